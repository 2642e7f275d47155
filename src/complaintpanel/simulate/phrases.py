"""Phrase banks for the simulator's tweet texts.

Texts are assembled as ``@brand  opener  body  tail``. The banks cover several industries
(telecoms, retail, delivery, travel, software, banking, food) so that a classifier is not
rewarded for learning one domain. A controlled share of texts is *ambiguous*: complaints in
sarcastic or polite words, compliments that mention a past problem, and neutral texts with
emotional words, so labelling from text is imperfect, as it is on real data.

All texts are written for this package; none is a real tweet.
"""

from __future__ import annotations

COMPLAINT_OPENERS: tuple[str, ...] = (
    "", "", "", "seriously", "ugh", "hey", "not happy.", "again?!", "third time asking:",
    "come on", "really disappointed.", "so", "hello?", "this is unacceptable.", "day 3:",
)

COMPLAINT_BODIES: tuple[str, ...] = (
    "my internet has been down since this morning",
    "still no signal at my house",
    "my bill is wrong for the second month in a row",
    "you charged me twice for the same order",
    "my order never arrived and tracking says delivered",
    "been on hold for {n} hours and nobody picks up",
    "the app keeps crashing every time I open it",
    "my package is {n} days late",
    "I was promised a callback that never came",
    "my flight got cancelled with no explanation",
    "lost my bag and nobody can tell me where it is",
    "the delivery driver left my parcel in the rain",
    "still waiting on my refund after {n} weeks",
    "your website won't let me log in",
    "the update broke my account settings",
    "my card was declined for no reason",
    "the food arrived cold and missing items",
    "waited {n} hours for a technician who never showed",
    "my phone has had no service all day",
    "cancelled my subscription but you keep charging me",
    "the train was delayed again and no announcement",
    "your chat support disconnected me {n} times",
    "I can't reach anyone about my broken router",
    "the replacement you sent is also broken",
    "my account got locked and the reset email never comes",
    "streaming keeps buffering every evening",
    "wrong item delivered and the return portal is broken",
    "my points disappeared from my account",
    "the store refused my return even with the receipt",
    "the outage in my area has lasted {n} days",
    "nobody answered my email from last week",
    "the price changed after I paid",
    "my download failed and I was still billed",
    "the agent was rude and hung up on me",
    "I have asked {n} times and still no fix",
)

COMPLAINT_TAILS: tuple[str, ...] = (
    "", "", "", "fix this", "this is ridiculous", "any update?", "so frustrated",
    "😡", "#fail", "terrible service", "what is going on?", "worst experience",
    "please help", "unbelievable", "I want my money back", "😤😤",
)

COMPLIMENT_OPENERS: tuple[str, ...] = (
    "", "", "", "just wanted to say", "shoutout to", "wow", "big thanks,", "honestly",
)

COMPLIMENT_BODIES: tuple[str, ...] = (
    "thanks for the quick help today",
    "your team sorted everything out in minutes",
    "great service at the store this morning",
    "love the new update",
    "the delivery came a day early",
    "best customer support I have had in years",
    "thank you for fixing my account so fast",
    "the new plan is fantastic",
    "your agent was so kind and patient",
    "flight was smooth and the crew were lovely",
    "thanks for the refund, much appreciated",
    "the technician was friendly and professional",
    "really happy with my order",
    "amazing response time, thank you",
    "you guys rock",
    "the food was delicious as always",
)

COMPLIMENT_TAILS: tuple[str, ...] = (
    "", "", "", "🙌", "❤️", "👏", "keep it up", "thanks again", "10/10", ":)", "😊",
)

NEUTRAL_BODIES: tuple[str, ...] = (
    "what time does the store open on sunday?",
    "how do I change my plan?",
    "do you ship to canada?",
    "is the new model available in blue?",
    "can I add a second line to my account?",
    "where can I find my account number?",
    "does the offer apply to existing customers?",
    "how do I update my address?",
    "are you open on the holiday?",
    "which app version supports dark mode?",
    "can I bring a bike on the train?",
    "how long does standard delivery take?",
    "is there a student discount?",
    "what is the baggage allowance for this route?",
    "can I pay with a gift card online?",
    "do you have an email address for business enquiries?",
)

# Complaints in positive or polite words (sarcasm, politeness): true voice = complaint.
AMBIGUOUS_COMPLAINTS: tuple[str, ...] = (
    "great, my order is late again. love it",
    "thanks for nothing",
    "wow amazing service, {n} hours on hold",
    "so glad I pay for internet that never works",
    "fantastic, another bill error. well done",
    "love how nobody ever answers",
    "brilliant, the app logged me out again",
    "perfect timing for the outage, thanks",
    "could someone kindly look at my case when you have a moment",
    "just checking if anyone has seen my ticket from last week",
)

# Compliments that mention a problem: true voice = compliment.
AMBIGUOUS_COMPLIMENTS: tuple[str, ...] = (
    "was worried about my bill but you sorted it, no complaints",
    "the outage was annoying but your team fixed it fast, thanks",
    "not bad at all, problem solved",
    "I was ready to cancel but your agent saved the day",
    "hated waiting but the result was worth it",
)

# Neutral texts with emotional words: true voice = neutral.
AMBIGUOUS_NEUTRAL: tuple[str, ...] = (
    "ok",
    "hmm interesting",
    "lol what",
    "is this the right account for problems with orders?",
    "my friend had an issue last year, is that still a thing?",
    "no worries, I will check tomorrow",
)

FOLLOW_UP_PREFIXES: tuple[str, ...] = ("", "", "ok but", "still", "update:", "and now")

BRAND_REPLIES_COMPLAINT: tuple[str, ...] = (
    "Sorry to hear that! Please DM us your account details and we'll look into it.",
    "We apologise for the trouble. Could you send us a DM with your order number?",
    "That's not the experience we want for you. We're on it, check your DMs.",
    "Thanks for your patience. We've escalated this to our team.",
    "Sorry about this. Can you try restarting the device and let us know?",
    "We hear you. A specialist will reach out within 24 hours.",
)

BRAND_REPLIES_FOLLOW: tuple[str, ...] = (
    "Just following up: we've sent you a DM.",
    "One more thing: please include your postcode in the DM.",
)

BRAND_REPLIES_COMPLIMENT: tuple[str, ...] = (
    "Thanks so much for the kind words! We'll pass them on.",
    "Love to hear it! Have a great day.",
    "You made our day, thank you!",
)

BRAND_REPLIES_NEUTRAL: tuple[str, ...] = (
    "Hi! You can find that in the app under Settings > Account.",
    "Good question! Please check our help page or DM us for details.",
    "Yes, that's possible. DM us and we'll set it up.",
    "Hi there, our opening hours are listed on our website.",
)

AGENT_INITIALS: tuple[str, ...] = ("AB", "JK", "MR", "TS", "LW", "CP", "DN", "EH")

BRAND_HANDLES: tuple[str, ...] = (
    "NimbusTelecomCare", "QuickShipHelp", "SkyLineAirSupport", "ByteSoftCares",
    "UrbanGroceryHelp", "MetroRailUpdates", "PennyBankSupport", "StreamBoxHelp",
    "FreshBiteCares", "VoltEnergyHelp",
)
