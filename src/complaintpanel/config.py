"""One typed place for every setting: ``analysis/config.toml`` → :class:`Config`.

Each pipeline stage reads only its own section, so that the Makefile can make each stage's
outputs depend on that section alone (``complaintpanel config-section NAME`` prints a stable
hash of it). Unknown keys are an error, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "DEFAULT_MODEL_PATH",
    "Config",
    "EstimateConfig",
    "HMMConfig",
    "IngestConfig",
    "LabelConfig",
    "PanelConfig",
    "PolicyConfig",
    "RobustnessConfig",
    "SimulateConfig",
    "ValidationConfig",
    "load_config",
    "parse_utc_instant",
    "section_digest",
    "write_section_stamps",
]

# Where ``label-train`` saves, and the ``trained`` classifier looks, by default (git-ignored).
DEFAULT_MODEL_PATH = Path("data/processed/models/voice.joblib")


@dataclass(frozen=True)
class SimulateConfig:
    """The embedded default world (DESIGN.md §5)."""

    customers: int = 4000
    brands: int = 3
    weeks: int = 26
    seed: int = 20150901
    endogenous_replies: bool = False
    ambiguous_share: float = 0.10
    start_date: str = "2017-06-05"
    # Customers differ (DESIGN.md §4.2): each customer's normal random effects on the complaint
    # and compliment log-rates, with these standard deviations and this correlation; they
    # multiply the true voice rates (misclassified labels inherit them). 0 = no heterogeneity
    # (the default world is then drawn exactly as without these settings).
    complaint_re_sd: float = 0.0
    compliment_re_sd: float = 0.0
    re_corr: float = 0.0
    # Redress history in the complaint rate (DESIGN.md §4.2): "binary" (a complaint was
    # answered in an earlier week; the default) or "stock", the decaying stock
    # R_t = Σ_{s<t} redress_decay^(t−1−s) · 1{answered in s}. redress_decay is ignored when
    # binary.
    redress: Literal["binary", "stock"] = "binary"
    redress_decay: float = 0.7
    # Latent classes in the relationship effect δ (DESIGN.md §4.2): each customer belongs to
    # class c with probability delta_class_shares[c] (default: equal shares) and moves with
    # δ = delta_classes[c] in place of the model's δ. () = no classes (the default world is
    # then drawn exactly as without these settings).
    delta_classes: tuple[float, ...] = ()
    delta_class_shares: tuple[float, ...] = ()
    # The rival mechanism (Sun, Gao & Rui 2021): a brand's public answers in week t raise every
    # other customer's complaint log-rate for that brand in t+1 by awareness_effect × (the
    # brand's other customers with an answered complaint in t / its customers active in t).
    # 0 = off (the default world is then drawn exactly as without this setting).
    awareness_effect: float = 0.0

    def __post_init__(self) -> None:
        if self.redress not in ("binary", "stock"):
            raise ValueError(f"[simulate] redress must be 'binary' or 'stock', not "
                             f"{self.redress!r}")
        if not 0 < self.redress_decay <= 1:
            raise ValueError("[simulate] redress_decay must lie in (0, 1]")
        if not (self.complaint_re_sd >= 0 and self.compliment_re_sd >= 0):
            raise ValueError("[simulate] complaint_re_sd and compliment_re_sd must be >= 0")
        if not -1 <= self.re_corr <= 1:
            raise ValueError("[simulate] re_corr must lie in [-1, 1]")
        shares = self.delta_class_shares
        if shares and len(shares) != len(self.delta_classes):
            raise ValueError("[simulate] delta_class_shares needs one share per entry of "
                             "delta_classes")
        if shares and (min(shares) < 0 or abs(sum(shares) - 1) > 1e-9):
            raise ValueError("[simulate] delta_class_shares must be >= 0 and sum to 1")


def parse_utc_instant(value: str, setting: str) -> datetime:
    """Read an ISO 8601 date or date-time as an aware UTC instant (no offset means UTC).

    Raises
    ------
    ValueError
        Naming ``[ingest] setting`` when ``value`` is not ISO 8601.
    """
    try:
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"[ingest] {setting} must be an ISO 8601 date or date-time such as "
                         f'"2006-03-21" or "2017-10-01T00:00:00+00:00", not {value!r}') from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)  # noqa: UP017 - run by any python3
    return moment.astimezone(timezone.utc)  # noqa: UP017


@dataclass(frozen=True)
class IngestConfig:
    """Reading and pseudonymising raw conversation data."""

    # Name of the environment variable holding the pseudonymisation key; when unset, a key is
    # generated once and stored beside the data (never in the repository).
    key_env: str = "COMPLAINTPANEL_KEY"
    mapping: str | None = None
    # Plausible creation times (ISO 8601 dates or date-times, UTC unless an offset is given):
    # a record created before created_at_min or after created_at_max is rejected as
    # created_at_out_of_range. Twitter opened on 2006-03-21; created_at_max = None means the
    # time of the run plus one day (slack for clocks and time zones).
    created_at_min: str = "2006-03-21"
    created_at_max: str | None = None
    # Kept tweets far from the bulk of the customer tweets (the days from their 1st to their
    # 99th percentile) are reported with a suggested [panel] window: "far" is more days than
    # this, or than the bulk's own span if that is longer.
    outlier_gap_days: float = 30.0

    def __post_init__(self) -> None:
        low = parse_utc_instant(self.created_at_min, "created_at_min")
        if self.created_at_max is not None:
            high = parse_utc_instant(self.created_at_max, "created_at_max")
            if high <= low:
                raise ValueError("[ingest] created_at_max must be later than created_at_min")
        if not self.outlier_gap_days >= 0:
            raise ValueError("[ingest] outlier_gap_days must be a number of days >= 0")


@dataclass(frozen=True)
class LabelConfig:
    """Which voice classifier labels customer tweets.

    ``classifier``: ``"rules"`` (default: the lexicon and customer-care cues), ``"head"`` (the
    packaged calibrated model over rule scores and n-grams, docs/classifier.md; it stays an
    option because it did not beat the rules on every held-out domain by the issue-14 margin)
    or ``"trained"`` (a model of your own from ``label-train``). ``model_path``: the trained
    model, or another head than the packaged one.
    """

    classifier: str = "rules"
    model_path: str | None = None
    # Rules classifier only: score magnitude at which a tweet counts as a complaint or a
    # compliment (larger → fewer voiced tweets); vary it for sensitivity analyses.
    threshold: float = 1.0


Period = Literal["day", "week", "month"]
PERIODS: tuple[Period, ...] = ("day", "week", "month")


@dataclass(frozen=True)
class PanelConfig:
    """Customer × brand × period panel."""

    period: Period = "week"
    min_tweets: int = 1
    # Observation window (ISO dates, UTC, end exclusive); None = first to last customer tweet.
    window_start: str | None = None
    window_end: str | None = None

    def __post_init__(self) -> None:
        if self.period not in PERIODS:
            raise ValueError(f"[panel] period must be one of {PERIODS}, not {self.period!r}")


@dataclass(frozen=True)
class EstimateConfig:
    """Reduced-form estimation."""

    # Main treatment definition (a key of complaintpanel.estimate.TREATMENTS).
    treatment: str = "replied"
    # H of the "reply within H hours" treatment.
    reply_within_h: float = 24.0
    # Last lead of the design-based estimate (outcomes in t+0 … t+horizon).
    horizon: int = 4
    # Event times −window … +window of the event studies (the ends are binned).
    event_window: int = 4
    # Sensitivity of the design-based estimate to selection on the unobserved (marginal
    # sensitivity model, complaintpanel.estimate.sensitivity): the Λ reported (the last is e),
    # the customer-cluster bootstrap replicates of its intervals (few, to keep the stage fast;
    # more for a paper) and their seed.
    sensitivity_lambdas: tuple[float, ...] = (1.0, 1.5, 2.0, 2.718281828459045, 3.0)
    sensitivity_reps: int = 40
    sensitivity_seed: int = 0
    # Lee bounds on the effect on mean sentiment without monotonicity
    # (complaintpanel.estimate.sentiment.defier_bounds): the defier shares κ reported — the share
    # of the design's customer-periods whose tweeting in t+h answering moves against the
    # majority direction (κ = 0: Lee's bounds). The simulator's worlds have 2–4%
    # (benchmarks/results/sentiment.json). () = none (nor the breakdown κ).
    sentiment_defier_shares: tuple[float, ...] = (0.0, 0.01, 0.02, 0.03, 0.05, 0.1)

    def __post_init__(self) -> None:
        if any(value < 1 for value in self.sensitivity_lambdas):
            raise ValueError("[estimate] sensitivity_lambdas must all be at least 1")
        if any(not 0 <= value <= 1 for value in self.sentiment_defier_shares):
            raise ValueError("[estimate] sentiment_defier_shares must all lie in [0, 1]")
        if self.sensitivity_reps < 2:
            raise ValueError("[estimate] sensitivity_reps must be at least 2")


@dataclass(frozen=True)
class ValidationConfig:
    """The hand-coded validation sample of the classifier's labels (DESIGN.md §4.1)."""

    # Tweets to code.
    n: int = 1000
    # Seed of the draw (the same voiced table, n, seed and allocation give the same sample).
    seed: int = 20150901
    # "equal" (n/3 per predicted label: rare labels are coded often enough) or "proportional".
    allocation: Literal["equal", "proportional"] = "equal"

    def __post_init__(self) -> None:
        if self.allocation not in ("equal", "proportional"):
            raise ValueError("[validation] allocation must be 'equal' or 'proportional', not "
                             f"{self.allocation!r}")
        if self.n < 3:
            raise ValueError("[validation] n must be at least 3 (one tweet per label)")


@dataclass(frozen=True)
class RobustnessConfig:
    """The variations of the robustness grid (each changes one choice of the main run)."""

    periods: tuple[Period, ...] = ("day", "month")
    min_tweets: tuple[int, ...] = (3, 5)
    # Rules classifier only: thresholds tried beside the configured one.
    thresholds: tuple[float, ...] = (0.5, 1.5)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.periods) - set(PERIODS))
        if unknown:
            raise ValueError(f"[robustness] periods must be among {PERIODS}, not {unknown}")


@dataclass(frozen=True)
class HMMConfig:
    """Structural hidden Markov model (see complaintpanel.hmm.RelationshipHMM)."""

    n_states: int = 3
    n_starts: int = 5
    seed: int = 7
    # Processes for the starts and the bootstrap (−1 = all cores). Results do not depend on it.
    jobs: int = 1
    # Standard errors: "oim" (observed information), "robust" (customer-clustered sandwich) or
    # "bootstrap" (customer-clustered, n_boot replications).
    cov_type: Literal["oim", "robust", "bootstrap"] = "oim"
    n_boot: int = 200
    # Unanswered complaints enter the transitions (κ).
    unanswered: bool = False
    # Model the brand's replies by latent state (for brands that answer selectively).
    reply_model: bool = False
    # A reply within this many hours gets its own effect (δ_fast); None switches it off.
    latency_hours: float | None = None
    # Gaussian emission of the period's mean sentiment.
    sentiment: bool = False
    # Coded validation sheet (CSV): correct the voice labels for misclassification with M
    # estimated jointly (DESIGN.md §4.1); None fits the naive model on the labels.
    validation: str | None = None
    # Customers differ (DESIGN.md §4.2): "none", "random_intercepts" (a normal random
    # intercept in each customer's complaint log-rate, integrated by adaptive Gauss–Hermite
    # quadrature with quadrature_nodes nodes; hmm.json then reports σ and both BICs) or
    # "classes" (`classes` latent customer classes with their own δ; hmm.json reports each
    # class's δ and share).
    heterogeneity: Literal["none", "random_intercepts", "classes"] = "none"
    quadrature_nodes: int = 9
    # With random_intercepts: the log-rates with a customer intercept, ["complaint"] or
    # ["complaint", "compliment"] (bivariate normal, Cholesky-parametrised; hmm.json reports
    # both σ and their correlation), integrated on a product grid of bivariate_nodes² adaptive
    # Gauss–Hermite nodes (7: 49 forward passes per evaluation, docs/hmm.md).
    random_intercepts: tuple[str, ...] = ("complaint",)
    bivariate_nodes: int = 7
    classes: int = 2
    # Starts of the class fit from the homogeneous optimum (class values spread 1×, 2×, …).
    class_starts: int = 2
    # Compare none / random_intercepts / classes (C = 2) by BIC beside the fit (hmm.json block
    # `heterogeneity_selection`, table hmm_heterogeneity.md), on at most select_customers
    # customers drawn at random (0 = all), with the labels taken as the true voice (the
    # heterogeneity models do not take the reply process).
    select_heterogeneity: bool = False
    select_customers: int = 1000
    # The models compared: any of "none", "random_intercepts", "bivariate_intercepts"
    # (correlated complaint and compliment intercepts, bivariate_nodes² nodes: about five
    # univariate fits, so not compared by default), "classes".
    select_candidates: tuple[str, ...] = ("none", "random_intercepts", "classes")
    # Redress history in the complaint rate (DESIGN.md §4.2): "binary" (default) or "stock",
    # the decaying stock Σ_{s<t} ρ^(t−1−s) I_s; redress_decay = ρ in (0, 1] fixed, or "auto"
    # to estimate it by profile likelihood (hmm.json reports ρ̂ and its interval). Ignored
    # when binary.
    redress: Literal["binary", "stock"] = "binary"
    redress_decay: float | str = "auto"

    def __post_init__(self) -> None:
        if self.redress not in ("binary", "stock"):
            raise ValueError(f"[hmm] redress must be 'binary' or 'stock', not {self.redress!r}")
        if isinstance(self.redress_decay, str):
            if self.redress_decay != "auto":
                raise ValueError("[hmm] redress_decay must be a number in (0, 1] or 'auto', "
                                 f"not {self.redress_decay!r}")
        elif not 0 < self.redress_decay <= 1:
            raise ValueError("[hmm] redress_decay must lie in (0, 1] (or be 'auto')")
        if self.heterogeneity not in ("none", "random_intercepts", "classes"):
            raise ValueError("[hmm] heterogeneity must be 'none', 'random_intercepts' or "
                             f"'classes', not {self.heterogeneity!r}")
        if self.quadrature_nodes < 1 or self.bivariate_nodes < 1:
            raise ValueError("[hmm] quadrature_nodes and bivariate_nodes must be at least 1")
        if tuple(self.random_intercepts) not in (("complaint",), ("complaint", "compliment")):
            raise ValueError("[hmm] random_intercepts must be ['complaint'] or ['complaint', "
                             f"'compliment'], not {list(self.random_intercepts)}")
        if self.classes < 1:
            raise ValueError("[hmm] classes must be at least 1")
        known = ("none", "random_intercepts", "bivariate_intercepts", "classes")
        if not self.select_candidates or set(self.select_candidates) - set(known):
            raise ValueError(f"[hmm] select_candidates must be some of {list(known)}, not "
                             f"{list(self.select_candidates)}")
        if self.select_customers < 0:
            raise ValueError("[hmm] select_customers must be >= 0 (0 = all customers)")


@dataclass(frozen=True)
class PolicyConfig:
    """Counterfactual reply policies simulated from the fitted structural model (issue 17)."""

    # Periods simulated after the end of the data (observed customers).
    horizon: int = 12
    # Periods simulated for a cohort of new customers (from the initial distribution).
    cohort_horizon: int = 26
    # Parameter draws for the confidence intervals (besides the estimate itself).
    draws: int = 20
    # Simulated paths per draw, averaged into each expected outcome.
    paths: int = 2
    seed: int = 7
    # Draw parameters from their estimated sampling distribution (else fix them).
    parameter_uncertainty: bool = True
    # Arms to simulate (empty: every arm the fitted model supports): none, observed, all,
    # fast (needs latency), random, targeted.
    policies: tuple[str, ...] = ()
    # Populations: "observed" (customers of the data), "cohort" (new customers).
    populations: tuple[str, ...] = ("observed", "cohort")
    # Also run each answering arm with learning off for the redress the policy creates.
    learning_off: bool = True
    # Share of complaints the budget arms (random, targeted) answer.
    budget: float = 0.1
    # What the targeting rule maximises: "good_share" or "net_voice".
    objective: str = "good_share"
    # Simulated world only (`policy --truth`): paths of the true values in all, split into
    # independent runs for their Monte Carlo se (complaintpanel.hmm.policy_truth).
    truth_paths: int = 48
    # Add prediction intervals (this sample's realised outcome, path noise included).
    prediction: bool = False

    def __post_init__(self) -> None:
        if self.objective not in ("good_share", "net_voice"):
            raise ValueError("[policy] objective must be 'good_share' or 'net_voice', "
                             f"not {self.objective!r}")
        if not 0 < self.budget <= 1:
            raise ValueError(f"[policy] budget must be in (0, 1], not {self.budget}")
        if self.paths < 1:
            raise ValueError(f"[policy] paths must be at least 1, not {self.paths}")
        if self.draws < 0:
            raise ValueError(f"[policy] draws must be >= 0, not {self.draws}")
        if self.truth_paths < 1:
            raise ValueError(f"[policy] truth_paths must be at least 1, not {self.truth_paths}")


@dataclass(frozen=True)
class EngineConfig:
    """Where the data stages (ingest, thread, panel) run; their outputs are the same on both."""

    # "duckdb" (embedded, the default) or "spark" (needs the [spark] extra and Java 17+).
    name: str = "duckdb"
    # Spark master, e.g. "local[2]" or "spark://host:7077"; None = the session spark-submit
    # made, else local[*].
    spark_master: str | None = None

    def __post_init__(self) -> None:
        if self.name not in ("duckdb", "spark"):
            raise ValueError(f"[engine] name must be 'duckdb' or 'spark', not {self.name!r}")


@dataclass(frozen=True)
class Config:
    """All settings, one section per stage."""

    simulate: SimulateConfig = field(default_factory=SimulateConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    label: LabelConfig = field(default_factory=LabelConfig)
    panel: PanelConfig = field(default_factory=PanelConfig)
    estimate: EstimateConfig = field(default_factory=EstimateConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    robustness: RobustnessConfig = field(default_factory=RobustnessConfig)
    hmm: HMMConfig = field(default_factory=HMMConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)


def _build(section_type: type, values: dict[str, Any], where: str) -> Any:
    known = {f.name for f in dataclasses.fields(section_type)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{where}: unknown setting(s) {unknown}; known: {sorted(known)}")
    # TOML arrays arrive as lists; the sections are frozen (hashable), so they hold tuples.
    return section_type(**{key: tuple(value) if isinstance(value, list) else value
                           for key, value in values.items()})


def load_config(path: str | Path | None = None) -> Config:
    """Load settings from a TOML file; missing sections and keys take their defaults.

    Parameters
    ----------
    path : str or Path, optional
        TOML file. ``None`` returns the defaults.

    Returns
    -------
    Config
    """
    if path is None:
        return Config()
    path = Path(path)
    with path.open("rb") as handle:
        raw = tomllib.load(handle)
    sections = {f.name: f.type for f in dataclasses.fields(Config)}
    unknown = sorted(set(raw) - set(sections))
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {unknown}; known: {sorted(sections)}")
    built = {}
    for name in sections:
        section_type = type(getattr(Config(), name))
        built[name] = _build(section_type, raw.get(name, {}), f"{path} [{name}]")
    return Config(**built)


def section_digest(config: Config, section: str) -> str:
    """Stable short hash of one section, for Make to detect which stages a change touches."""
    values = dataclasses.asdict(getattr(config, section))
    text = json.dumps(values, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def write_section_stamps(config_path: str | Path, stamp_dir: str | Path) -> list[Path]:
    """Write one stamp file per config section, touching it only when the section changes.

    Make uses these files as prerequisites, so editing ``[hmm]`` reruns only the structural
    model, not the simulator. A stamp holds the section's digest; it is rewritten (and its
    modification time bumped) only when the digest differs.
    """
    config = load_config(config_path) if Path(config_path).exists() else Config()
    stamp_dir = Path(stamp_dir)
    stamp_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for section in (f.name for f in dataclasses.fields(Config)):
        stamp = stamp_dir / f"config-{section}.stamp"
        digest = section_digest(config, section)
        if not stamp.exists() or stamp.read_text().strip() != digest:
            stamp.write_text(digest + "\n")
        written.append(stamp)
    return written


if __name__ == "__main__":
    # Run by the Makefile with the system Python before the virtual environment exists, so
    # this module imports nothing outside the standard library.
    import sys

    write_section_stamps(sys.argv[1], sys.argv[2])
