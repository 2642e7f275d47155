"""Several inputs as one archive, and the quirks of real spreadsheet exports (issue 19).

Real files come from ``../shared/data/real`` (skipped with a reason when absent, a failure under
``CI=true``); every expected count is recounted here with the ``csv`` module (and ``ftfy`` on
every text) reading the same bytes, independently of the package's reader. Small hand-written
fixtures (``tests/fixtures/ingest``) pin conflicting duplicates and the response-list detector.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import ftfy
import ftfy.bad_codecs  # registers the sloppy-windows-1252 codec
import pandas as pd
import pytest
from typer.testing import CliRunner

from complaintpanel.cli import app
from complaintpanel.ingest import IngestError, ingest
from complaintpanel.ingest.mapping import load_mapping
from complaintpanel.ingest.pseudonymise import pseudonym
from complaintpanel.ingest.quirks import repair_texts
from complaintpanel.thread import thread

KEY = b"test-key-not-secret"
FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
BRANDS = ("AirAsiaSupport", "AskRBC", "NikeSupport", "SpotifyCares", "Walmart")
EXPORTS = "twcs-brand-exports-excel"
# Per brand export: records; texts with mojibake repaired; response lists written as
# thousands-separated numbers; lists shown as '#####'. Recounted independently below.
BRAND_COUNTS = {
    "AirAsiaSupport": (4075, 108, 285, 2),
    "AskRBC": (446, 30, 20, 0),
    "NikeSupport": (1912, 102, 178, 0),
    "SpotifyCares": (10986, 2282, 357, 0),
    "Walmart": (975, 454, 17, 0),
}
# Brand handles stay in text by design: the five exporters and the twcs mapping's list.
KNOWN_BRANDS = {h.lower() for h in (*BRANDS, *load_mapping("twcs").brand_handles)}
# The one text ftfy.fix_encoding's heuristics leave alone, which the whole-text round trip
# repairs ("HÃ¥kon" → "Håkon", SpotifyCares.csv).
DECLINED_BY_FTFY = "HÃ¥kon"
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


def round_trip(text: str) -> str:
    """The text read back through ftfy's sloppy-windows-1252 codec once, or itself."""
    try:
        return text.encode("sloppy-windows-1252").decode("utf-8")
    except UnicodeError:
        return text


def records(path: Path) -> list[dict[str, str]]:
    """Records under the package's definition (CRLF = line end, lone CR = text, BOM dropped)."""
    data = path.read_bytes().replace(b"\r\n", b"\n").replace(b"\r", "\ue000".encode())
    text = data.decode("utf-8").removeprefix("\ufeff")
    rows = [r for r in csv.reader(io.StringIO(text, newline="")) if r]
    header = [h.strip() for h in rows[0]]
    return [dict(zip(header, r, strict=True)) for r in rows[1:]]


def output_strings(folder: Path) -> list[str]:
    """Every string value of every output file of ``folder`` (reports as whole texts)."""
    found: list[str] = []
    for file in sorted(folder.iterdir()):
        if file.suffix == ".parquet":
            frame = pd.read_parquet(file)
            for column in frame.columns:
                if pd.api.types.is_string_dtype(frame[column]):
                    found.extend(frame[column].dropna().astype(str))
        elif file.is_file():
            found.append(file.read_text())
    return found


# ---------------------------------------------------------------------------------------------
# Real brand exports (one archive: the folder)
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def exports(real_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("exports") / "interim" / "exports"
    report = ingest(real_data / EXPORTS, folder, key=KEY)
    return folder, report


def test_brand_exports_recounted_independently(real_data: Path) -> None:
    """The expected counts, from the raw bytes with csv + ftfy (no package code)."""
    for brand, (n, mojibake, thousands, hashes) in BRAND_COUNTS.items():
        rows = records(real_data / EXPORTS / f"{brand}.csv")
        assert len(rows) == n
        by_ftfy = {r["tweet_id"] for r in rows if ftfy.fix_encoding(r["text"]) != r["text"]}
        by_round_trip = {r["tweet_id"] for r in rows if round_trip(r["text"]) != r["text"]}
        assert len(by_ftfy | by_round_trip) == mojibake
        declined = [r["text"] for r in rows if r["tweet_id"] in by_round_trip - by_ftfy]
        assert len(declined) == (brand == "SpotifyCares") and all(
            DECLINED_BY_FTFY in t for t in declined)
        lists = [r["response_tweet_id"] for r in rows]
        assert sum(bool(re.fullmatch(r"[0-9]{1,3}(,[0-9]{3})+", v)) for v in lists) == thousands
        assert sum(bool(re.fullmatch(r"#+", v)) for v in lists) == hashes
        assert {r["inbound"] for r in rows} == {"FALSE"}  # spreadsheet booleans, brand side


def test_each_brand_export_exact_accounting(exports: tuple[Path, dict]) -> None:
    folder, report = exports
    files = {Path(f["path"]).stem: f for f in report["files"]}
    assert sorted(files) == sorted(BRANDS)
    first = 1
    for brand in sorted(BRANDS):  # a folder is read in name order
        n, mojibake, _, _ = BRAND_COUNTS[brand]
        entry = files[brand]
        assert (entry["rows_in"], entry["rows_kept"], entry["rows_rejected"]) == (n, n, 0)
        assert entry["mojibake_repaired"] == mojibake
        assert entry["first_source_row"] == first
        assert entry["normalisation"]["crlf"] == n + 1  # BOM + CRLF export, header included
        first += n
    total = sum(c[0] for c in BRAND_COUNTS.values())
    assert report["rows_in"] == report["rows_kept"] == total and report["rows_rejected"] == 0
    assert report["mojibake_repaired"] == sum(c[1] for c in BRAND_COUNTS.values())
    assert report["duplicates_across_files"] == 0
    tweets = pd.read_parquet(folder / "tweets.parquet")
    assert sorted(tweets["source_row"]) == list(range(1, total + 1))
    assert tweets.groupby("source_file").size().tolist() == [
        BRAND_COUNTS[b][0] for b in sorted(BRANDS)]
    assert not tweets["is_customer"].any() and set(tweets["author_key"]) == set(BRANDS)


def test_brand_exports_mojibake_repaired(real_data: Path, exports: tuple[Path, dict],
                                         tmp_path: Path) -> None:
    folder, _ = exports
    tweets = pd.read_parquet(folder / "tweets.parquet").set_index("tweet_id")
    # One file alone takes the other path (repaired texts joined where tweets are built).
    alone = ingest(real_data / EXPORTS / "Walmart.csv", tmp_path / "interim" / "w", key=KEY)
    assert alone["mojibake_repaired"] == BRAND_COUNTS["Walmart"][1]
    walmart_alone = pd.read_parquet(tmp_path / "interim" / "w" / "tweets.parquet")
    assert walmart_alone.set_index("tweet_id")["text"].equals(
        tweets.loc[walmart_alone["tweet_id"], "text"])
    raw = {int(r["tweet_id"]): r["text"] for r in records(real_data / EXPORTS / "Walmart.csv")}
    assert "â€™" in "".join(raw.values())
    walmart = tweets[tweets["author_key"] == "Walmart"]
    assert not walmart["text"].str.contains("â€™", regex=False).any()
    # Tweet 2383 reads "We â¤ï¸ you too" in the export: a heart again after the repair.
    assert "We ❤️ you too" in tweets.loc[2383, "text"]
    # The package's repair is ftfy.fix_encoding's on every text of the exports but one.
    raw_texts = [r["text"] for b in BRANDS for r in records(real_data / EXPORTS / f"{b}.csv")]
    differ = [t for t, fixed in zip(raw_texts, repair_texts(raw_texts), strict=True)
              if fixed != ftfy.fix_encoding(t)]
    assert len(differ) == 1 and DECLINED_BY_FTFY in differ[0]


def test_brand_exports_response_lists_flagged(real_data: Path,
                                              exports: tuple[Path, dict]) -> None:
    folder, report = exports
    thousands = sum(c[2] for c in BRAND_COUNTS.values())
    assert report["response_lists_flagged"]["by_issue"] == {"hash_marks": 2,
                                                            "thousands_separated": thousands}
    tweets = pd.read_parquet(folder / "tweets.parquet")
    per_brand = tweets.groupby("author_key")["response_list_issue"].count().to_dict()
    assert per_brand == {b: c[2] + c[3] for b, c in BRAND_COUNTS.items()}
    # Reply links come from in_response_to_tweet_id, intact: as many as the exports hold.
    linked = sum(bool(r["in_response_to_tweet_id"]) for b in BRANDS
                 for r in records(real_data / EXPORTS / f"{b}.csv"))
    assert tweets["in_reply_to"].notna().sum() == linked == 18317


def test_brand_only_customers_inferred(real_data: Path, exports: tuple[Path, dict]) -> None:
    folder, report = exports
    inferred = report["brand_only_inputs"]
    assert inferred["source_files"] == [1, 2, 3, 4, 5]
    assert inferred["customer_from_parent"] == 0  # no customer tweet in the archive
    tweets = pd.read_parquet(folder / "tweets.parquet")
    assert inferred["customer_from_opening_handle"] + inferred["customer_unknown"] == len(tweets)
    # Recount: texts opening with an @handle that is not a brand's. Handles are ASCII (four
    # texts open with "@" and a name in Hangul or Thai, no handle: unknown).
    opening = [m.group(1) for b in BRANDS for r in records(real_data / EXPORTS / f"{b}.csv")
               if (m := re.match(r"@(\w+)", r["text"], re.ASCII)) and m.group(1).lower()
               not in KNOWN_BRANDS]
    assert inferred["customer_from_opening_handle"] == len(opening)
    assert inferred["customers_inferred"] == len({h.lower() for h in opening})
    keys = tweets["addressed_customer"].dropna()
    assert set(keys) == {pseudonym(h, KEY) for h in opening}


def test_no_handle_or_email_in_outputs(real_data: Path, exports: tuple[Path, dict]) -> None:
    folder, _ = exports
    handles = {m.lower() for b in BRANDS for r in records(real_data / EXPORTS / f"{b}.csv")
               for m in re.findall(r"@(\w+)", r["text"], re.ASCII)} - KNOWN_BRANDS
    assert len(handles) > 8000
    strings = output_strings(folder)
    mentioned = {m.lower() for s in strings for m in re.findall(r"@(\w+)", s)}
    assert not mentioned & handles
    values = {s.lower() for s in strings}
    assert not values & handles
    assert not [s for s in strings if EMAIL.search(s)]


# ---------------------------------------------------------------------------------------------
# Real two-sided slice: SpotifyCares.csv + support_requests.csv; overlap with the TWCS head
# ---------------------------------------------------------------------------------------------
def test_spotify_two_sided_slice(real_data: Path, tmp_path: Path) -> None:
    brand = real_data / EXPORTS / "SpotifyCares.csv"
    customers = real_data / "twcs-spotifycares-followups" / "support_requests.csv"
    out = tmp_path / "interim" / "spotify"
    report = ingest([brand, customers], out, key=KEY)
    assert [f["rows_in"] for f in report["files"]] == [10986, 15096]
    assert [f["rows_kept"] for f in report["files"]] == [10986, 15096]
    assert report["rows_in"] == report["rows_kept"] == 26082 and report["rows_rejected"] == 0
    assert (report["duplicates_across_files"], report["duplicates_conflicting"]) == (0, 0)
    assert report["tweets_customer"] == 15096 and report["tweets_brand"] == 10986
    rows = records(customers)
    assert report["customers"] == len({r["author_id"].lower() for r in rows})
    tweets = pd.read_parquet(out / "tweets.parquet").set_index("tweet_id")
    # Same handle, same pseudonym in both files: SpotifyCares' tweet 848 answers customer
    # 115887's tweet 850 (support_requests.csv), and opens with that customer's @handle.
    key = pseudonym("115887", KEY)
    assert tweets.loc[850, "author_key"] == key and tweets.loc[850, "source_file"] == 2
    assert tweets.loc[848, "text"].startswith(f"@{key} ")
    assert tweets.loc[848, "addressed_customer"] == key
    assert tweets.loc[848, "addressed_customer_source"] == "parent"
    inferred = report["brand_only_inputs"]
    customer_ids = {int(r["tweet_id"]) for r in rows}
    parents = [int(float(r["in_response_to_tweet_id"])) for r in records(brand)
               if r["in_response_to_tweet_id"]]
    assert inferred["customer_from_parent"] == sum(p in customer_ids for p in parents)
    by_parent = tweets[tweets["addressed_customer_source"] == "parent"]
    opens_with = [t.startswith(f"@{k}") for t, k in zip(by_parent["text"],
                                                         by_parent["addressed_customer"],
                                                         strict=True)]
    assert sum(opens_with) >= 0.99 * len(by_parent)
    # The parent's author wins over the opening @handle where they differ.
    parent_author = tweets.loc[by_parent["in_reply_to"].astype("int64"), "author_key"]
    assert (by_parent["addressed_customer"].to_numpy() == parent_author.to_numpy()).all()
    assert sum(opens_with) < len(by_parent)  # such replies exist
    thread(out)
    thread_report = json.loads((out / "thread_report.json").read_text())
    answered = {p for p in parents if p in customer_ids}
    assert thread_report["customer_tweets_replied"] == len(answered)


def test_exact_duplicates_across_real_files(real_data: Path, tmp_path: Path) -> None:
    """SpotifyCares' export and the TWCS head share 80 tweets; 16 differ only by mojibake."""
    brand = real_data / EXPORTS / "SpotifyCares.csv"
    head = real_data / "twcs-head-5k" / "twcs.csv"
    exported = {r["tweet_id"]: r["text"] for r in records(brand)}
    shared = {r["tweet_id"]: r["text"] for r in records(head) if r["tweet_id"] in exported}
    assert len(shared) == 80
    assert sum(exported[i] != t for i, t in shared.items()) == 16
    assert all(ftfy.fix_encoding(exported[i]) == t for i, t in shared.items())
    out = tmp_path / "interim" / "overlap"
    report = ingest([brand, head], out, key=KEY)
    assert report["duplicates_across_files"] == 80 and report["duplicates_conflicting"] == 0
    assert report["files"][1]["rejects_by_reason"] == {"duplicate_across_files": 80}
    assert report["rows_in"] == 15986 and report["rows_kept"] == 15906
    rejects = pd.read_parquet(out / "rejects.parquet")
    assert rejects["detail"].str.fullmatch(
        r"record \d+ of twcs\.csv repeats record \d+ of SpotifyCares\.csv \(kept there\)").all()
    assert (rejects["source_file"] == 2).all()


# ---------------------------------------------------------------------------------------------
# Hand-written fixtures
# ---------------------------------------------------------------------------------------------
def test_conflicting_duplicates_quarantined(tmp_path: Path) -> None:
    out = tmp_path / "interim" / "ab"
    report = ingest([FIXTURES / "brand_a.csv", FIXTURES / "brand_b.csv"], out, key=KEY)
    assert [(f["rows_in"], f["rows_kept"], f["rows_rejected"]) for f in report["files"]] == [
        (4, 4, 0), (6, 2, 4)]
    assert report["files"][1]["rejects_by_reason"] == {
        "duplicate_across_files": 1, "duplicate_conflicting": 2, "duplicate_tweet_id": 1}
    assert (report["duplicates_across_files"], report["duplicates_conflicting"]) == (1, 2)
    assert report["files"][0]["mojibake_repaired"] == 1
    rejects = pd.read_parquet(out / "rejects.parquet").set_index("source_row")
    assert rejects["source_file"].tolist() == [2, 2, 2, 2]
    assert rejects["file_row"].tolist() == [1, 2, 3, 6]
    assert rejects.loc[5, "detail"] == "record 1 of brand_b.csv repeats record 2 of brand_a.csv " \
                                       "(kept there)"
    assert rejects.loc[6, "reason"] == "duplicate_conflicting"
    assert rejects.loc[6, "detail"] == ("record 2 of brand_b.csv and record 3 of brand_a.csv "
                                        "(kept) share the tweet_id but differ in text")
    assert rejects.loc[7, "detail"].endswith("differ in created_at")
    assert rejects.loc[10, "reason"] == "duplicate_tweet_id"
    tweets = pd.read_parquet(out / "tweets.parquet").set_index("tweet_id")
    assert sorted(tweets.index) == [1, 2, 3, 4, 5, 6]
    assert tweets.loc[2, "text"].endswith("we’re on it")  # the repaired copy of file 1
    # Same handle ⇒ same pseudonym across files, as author and in text, in any case.
    alice, bob = pseudonym("alice_1", KEY), pseudonym("bob99", KEY)
    assert tweets.loc[1, "author_key"] == tweets.loc[5, "author_key"] == alice
    assert tweets.loc[2, "text"].startswith(f"@{alice} ")
    assert tweets.loc[6, "text"] == f"@{alice} Shipped today"
    assert tweets.loc[5, "text"] == f"@AcmeHelp any news? cc @{bob}"
    assert tweets.loc[3, "author_key"] == bob
    strings = " ".join(output_strings(out)).lower()
    assert "alice_1" not in strings and "bob99" not in strings and "carol" not in strings


def test_response_list_detector(tmp_path: Path) -> None:
    out = tmp_path / "interim" / "lists"
    report = ingest(FIXTURES / "response_lists.csv", out, key=KEY)
    tweets = pd.read_parquet(out / "tweets.parquet").set_index("tweet_id")
    assert tweets["response_list_issue"].dropna().to_dict() == {
        335: "thousands_separated", 1774: "thousands_separated", 1781: "hash_marks",
        1783: "scientific_notation", 1786: "not_a_list", 1789: "thousands_separated"}
    assert len(tweets) == 9  # 332 ("333"), 1777 ("1778,1779") and 1788 (empty) are fine
    assert report["response_lists_flagged"]["rows"] == 6
    assert tweets.loc[1774, "in_reply_to"] == 1773  # the parent link is used, never the list
    # A brand-only input: the customer is the @handle a reply opens with, unless a brand's.
    inferred = report["brand_only_inputs"]
    assert (inferred["customer_from_opening_handle"], inferred["customer_unknown"],
            inferred["customers_inferred"], inferred["customer_from_parent"]) == (7, 2, 6, 0)
    assert tweets.loc[1774, "addressed_customer"] == pseudonym("1002", KEY)
    assert pd.isna(tweets.loc[1789, "addressed_customer"])


def test_inputs_given_as_folder_or_twice(tmp_path: Path) -> None:
    folder = tmp_path / "raw"
    folder.mkdir()
    for name in ("brand_a.csv", "brand_b.csv"):
        (folder / name).write_bytes((FIXTURES / name).read_bytes())
    (folder / "notes.txt").write_text("not data")
    report = ingest(folder, tmp_path / "interim" / "f", key=KEY)
    assert [Path(f["path"]).name for f in report["files"]] == ["brand_a.csv", "brand_b.csv"]
    with pytest.raises(IngestError, match="given twice"):
        ingest([folder / "brand_a.csv", folder / "brand_a.csv"], tmp_path / "interim" / "g",
               key=KEY)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(IngestError, match="folder without CSV"):
        ingest(empty, tmp_path / "interim" / "h", key=KEY)


def test_cli_several_inputs(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["ingest", str(FIXTURES / "brand_a.csv"), str(FIXTURES / "brand_b.csv"),
              "--out", str(tmp_path / "interim" / "ab")],
        env={"COMPLAINTPANEL_KEY": "cli-test-key-not-secret"})
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        "ingest: 10 rows in, 6 kept, 4 rejected from 2 files (1 duplicates across files "
        "removed, 2 conflicting)")
    assert "1 texts with mojibake repaired (ftfy)" in result.output


def test_repair_texts_mixed_and_layered() -> None:
    """Whole-text mojibake (one or two layers) round trips; mixed text goes to ftfy."""
    once = "we’re Håkon".encode().decode("cp1252")
    twice = "it’s".encode().decode("cp1252").encode().decode("cp1252")
    mixed = "Café " + "— open".encode().decode("cp1252")  # a correct é beside mojibake
    assert repair_texts([once, twice, mixed, "plain ascii", "Café"]) == [
        "we’re Håkon", "it’s", "Café — open", "plain ascii", "Café"]


@pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")
def test_make_data_several_files_and_folder(tmp_path: Path) -> None:
    """`make all DATA="A B"` ingests both as one archive; a folder stands for its files."""
    repo = Path(__file__).resolve().parents[1]
    raw = tmp_path / "exports"
    raw.mkdir()
    for name in ("brand_a.csv", "brand_b.csv"):
        (raw / name).write_bytes((FIXTURES / name).read_bytes())
    (raw / "notes.txt").write_text("not data")

    def dry_run(data: str) -> list[str]:
        result = subprocess.run(["make", "-n", "-o", ".venv/.installed", "all", f"DATA={data}"],
                                cwd=repo, capture_output=True, text=True, check=True)
        return [line for line in result.stdout.splitlines()
                if " ingest " in line or " manifest " in line]

    a, b = raw / "brand_a.csv", raw / "brand_b.csv"
    ingest_line, manifest_line = dry_run(f"{a} {b}")
    assert f"ingest {a} {b} --out data/interim/exports " in ingest_line
    assert f"--raw {a} --raw {b} " in manifest_line
    ingest_line, manifest_line = dry_run(f"{raw}/")
    assert "--out data/interim/exports " in ingest_line
    assert f"--raw {a} --raw {b} " in manifest_line  # the folder's data files, in name order
