"""voxpop.spam: tokens, the classifier, the heuristics and how they combine. Pure: no app."""

from __future__ import annotations

import math
import time

import pytest

from voxpop.spam import bayes, heuristics, tokens
from voxpop.spam.bayes import Counts, Model

# --- tokens -------------------------------------------------------------------------------


def test_words_are_normalised_casefolded_and_bounded_in_length() -> None:
    toks = tokens.tokens("Ｆｒｅｅ MONEY Straße a x1 " + "z" * 31 + " ab")
    assert toks == ["free", "money", "strasse", "x1", "ab"]


def test_unicode_letters_and_digits_are_words() -> None:
    assert tokens.tokens("Привет мир, 東京 café 42") == ["привет", "мир", "東京", "café", "42"]


def test_urls_give_url_and_domain_tokens() -> None:
    toks = tokens.tokens("see https://WWW.Example.com:8443/a?b=1 and http://user@evil.ru/x.")
    assert toks.count("__url__") == 2
    assert "__domain:example.com__" in toks
    assert "__domain:evil.ru__" in toks
    # The URL's parts do not leak into the words.
    assert "example" not in toks and "com" not in toks and "8443" not in toks
    assert toks[-2:] == ["see", "and"]


def test_bare_domains_with_spam_tlds_and_shorteners_are_links() -> None:
    toks = tokens.tokens("go to www.cheap-pills.biz or bit.ly/xYz now")
    assert toks.count("__url__") == 2
    assert "__domain:cheap-pills.biz__" in toks
    assert "__domain:bit.ly__" in toks
    assert "__shortlink__" in toks


def test_ordinary_dotted_words_are_not_links() -> None:
    toks = tokens.tokens("I read it in node.js docs, e.g. the README. Next sentence.")
    assert "__url__" not in toks
    assert "node" in toks and "js" in toks


def test_email_digits_money_and_shouting() -> None:
    toks = tokens.tokens("WRITE TO WIN@PRIZES.COM NOW OR CALL 0906 1701461 FOR £500 CASH")
    assert "__email__" in toks
    assert "__allcaps__" in toks
    assert "__money__" in toks
    assert "__digits__" in toks  # 1701461; 0906 is a short number, a word
    assert "0906" in toks
    assert "win" not in toks  # the address is one token, not words
    quiet = tokens.tokens("Write to me, call 0906 1701461 for 500 reasons")
    assert "__allcaps__" not in quiet and "__money__" not in quiet and "__email__" not in quiet


def test_many_links_from_three() -> None:
    two = tokens.tokens("http://a.com http://b.com")
    three = tokens.tokens("http://a.com http://b.com http://c.com")
    assert "__many_links__" not in two
    assert "__many_links__" in three


def test_features_dedupe_author_and_website() -> None:
    feats = tokens.features(
        "buy buy buy http://x.com", author_name="Cheap Pills", website="https://www.Spam.ru/p"
    )
    assert feats == {
        "buy",
        "__url__",
        "__domain:x.com__",
        "author:cheap",
        "author:pills",
        "__website__",
        "__website:spam.ru__",
    }


def test_features_are_capped_and_keep_special_tokens() -> None:
    text = "http://a.com " + " ".join(f"w{i}" for i in range(2000))
    feats = tokens.features(text)
    assert len(feats) == tokens.MAX_FEATURES
    assert "__url__" in feats and "__domain:a.com__" in feats
    assert "w0" in feats and "w1999" not in feats  # words kept in order of appearance


def test_deterministic() -> None:
    text = "Hello http://z.org and WORLD, hello again 123456 " * 30
    assert tokens.tokens(text) == tokens.tokens(text)
    assert tokens.features(text) == tokens.features(text)


def test_hostile_input_does_not_crash_and_stays_bounded() -> None:
    huge = ("spam eggs " * 110_000)[:1_000_000]
    start = time.perf_counter()
    toks = tokens.tokens(huge)
    feats = tokens.features(huge, author_name="x" * 100_000, website="http://" + "a." * 50_000)
    assert time.perf_counter() - start < 2.0
    assert len(toks) <= tokens.MAX_TOKENS
    assert len(feats) <= tokens.MAX_FEATURES
    assert {"spam", "eggs"} <= feats

    nul = "\x00" * 10_000 + "hello\x00world\x01\x7f\x9f"
    assert tokens.tokens(nul) == ["hello", "world"]
    # Pathological shapes for the link and address patterns: linear, not quadratic (an
    # unbounded repetition over "a.a.a.a..." once took 9 s here).
    for text in (
        "@" * 50_000,
        "a@" * 20_000,
        "." * 50_000,
        "a." * 30_000,
        "x@" + "a." * 30_000,
        "http://" + "a." * 50_000,
        "http://" * 5_000,
        ("a" * 60 + ".") * 400,
    ):
        start = time.perf_counter()
        assert len(tokens.features(text, website=text[:5000])) <= tokens.MAX_FEATURES
        assert time.perf_counter() - start < 0.5, text[:20]
    # Lone surrogates and combining marks.
    assert tokens.tokens("\ud800 ok \u0301\u0301") == ["ok"]
    # NFKC can lengthen text (U+FDFA is 18 characters); the result is still bounded.
    assert len(tokens.tokens("\ufdfa" * 20_000)) <= tokens.MAX_TOKENS


# --- the classifier -----------------------------------------------------------------------

HAM = [
    "The council vote on the new bus lanes was closer than the article suggests.",
    "I live on that street and the traffic really is terrible in the morning.",
    "Good reporting, but the budget figures in paragraph three look wrong to me.",
    "Does anyone know when the public consultation on the bridge closes?",
    "My grandmother went to that school, nice to see it restored.",
    "The mayor said the same thing last year and nothing changed.",
    "Thanks for covering local politics, nobody else does anymore.",
]
SPAM = [
    "Earn money fast from home, click http://cash-now.biz for free bitcoin",
    "Cheap pills online, free shipping, visit http://pills.ru now",
    "Free bitcoin giveaway, claim your prize at http://cash-now.biz today",
    "Work from home and earn money, free signup at http://jobs.xyz",
    "Click here for free casino bonus http://casino.top win money",
    "Make money online fast, free guide http://cash-now.biz",
]


def trained() -> Model:
    model = Model()
    for text in HAM:
        model.train(tokens.features(text), is_spam=False)
    for text in SPAM:
        model.train(tokens.features(text), is_spam=True)
    return model


def test_untrained_is_neutral_and_says_so() -> None:
    model = Model()
    feats = tokens.features("free money http://cash-now.biz")
    assert model.verdict(feats) == bayes.Verdict(0.5, trained=False)
    # Four spam documents are not enough, whatever the ham.
    for text in SPAM[:4]:
        model.train(tokens.features(text), is_spam=True)
    for text in HAM:
        model.train(tokens.features(text), is_spam=False)
    verdict = bayes.verdict(feats, model.counts(feats))
    assert verdict.trained is False and verdict.score == 0.5
    model.train(tokens.features(SPAM[4]), is_spam=True)
    verdict = bayes.verdict(feats, model.counts(feats))
    assert verdict.trained is True and verdict.score > 0.9


def test_classifies_held_out_spam_and_ham() -> None:
    model = trained()
    spam = tokens.features("Free money, click http://cash-now.biz to earn from home")
    ham = tokens.features("The council should publish the budget figures for the bus lanes")
    assert model.verdict(spam).score > 0.9
    assert model.verdict(ham).score < 0.1
    # Unknown words only: no clue either way.
    assert model.verdict({"zzyzx", "qwertyuiop"}) == bayes.Verdict(0.5, trained=True)


def test_score_needs_only_the_features_own_counts() -> None:
    model = trained()
    feats = tokens.features("earn free money at home, council budget")
    full = bayes.verdict(feats, model.counts())
    fetched = bayes.verdict(feats, model.counts(feats))
    assert fetched == full
    assert set(model.counts(feats).tokens) <= feats
    assert bayes.score(feats, model.counts(feats)) == full.score


def test_score_is_monotonic_in_the_evidence() -> None:
    base = {"w": (10, 10)}
    feats = ["w", "spammy"]
    previous = -1.0
    for spam_count in range(0, 41, 4):
        counts = Counts(40, 40, {**base, "spammy": (spam_count, 40 - spam_count)})
        s = bayes.score(feats, counts)
        assert 0.0 <= s <= 1.0
        assert s >= previous
        previous = s
    assert previous > 0.9
    # More spam clues, never a lower score.
    clue_counts = {f"s{i}": (30, 2) for i in range(10)}
    scores = [
        bayes.score([f"s{i}" for i in range(k)], Counts(40, 40, clue_counts)) for k in range(11)
    ]
    assert scores == sorted(scores)
    assert scores[0] == 0.5 and scores[-1] > 0.99


def test_clues_are_strongest_first_and_capped() -> None:
    counts = Counts(1000, 1000, {f"t{i}": (i % 1000, 999 - i % 1000) for i in range(400)})
    verdict = bayes.verdict([f"t{i}" for i in range(400)], counts)
    assert 0 < len(verdict.clues) <= bayes.MAX_CLUES
    strengths = [abs(f - 0.5) for _, f in verdict.clues]
    assert strengths == sorted(strengths, reverse=True)


def test_extreme_counts_do_not_overflow_or_crash() -> None:
    many = {f"s{i}": (10**9, 0) for i in range(300)}
    assert bayes.score(list(many), Counts(10**9, 10**9, many)) == pytest.approx(1.0)
    many_ham = {f"h{i}": (0, 10**9) for i in range(300)}
    assert bayes.score(list(many_ham), Counts(10**9, 10**9, many_ham)) == pytest.approx(0.0)
    # Inconsistent rows (more than the totals, negative) are clamped, not trusted.
    odd = Counts(10, 10, {"a": (50, -3), "b": (-1, 7)})
    assert 0.0 <= bayes.score(["a", "b"], odd) <= 1.0


def test_bernoulli_method_and_unknown_method() -> None:
    model = trained()
    spam = tokens.features("Free money, click http://cash-now.biz to earn from home")
    assert model.verdict(spam, method="bernoulli").score > 0.9
    with pytest.raises(ValueError, match="unknown method"):
        bayes.verdict(spam, model.counts(), method="nope")  # type: ignore[arg-type]


def test_train_untrain_round_trip_is_exact() -> None:
    model = trained()
    before = model.counts()
    feats = tokens.features("A brand new comment about the council and free money")
    model.train(feats, is_spam=True)
    assert model.counts() != before
    model.untrain(feats, was_spam=True)
    assert model.counts() == before
    # A moderator's change of mind: ham -> spam, then back.
    model.train(feats, is_spam=False)
    after_ham = model.counts()
    model.untrain(feats, was_spam=False)
    model.train(feats, is_spam=True)
    model.untrain(feats, was_spam=True)
    model.train(feats, is_spam=False)
    assert model.counts() == after_ham
    # Untraining everything leaves nothing behind.
    empty = Model()
    empty.train({"a", "b"}, is_spam=True)
    empty.untrain(["a", "b", "a"], was_spam=True)
    assert empty.counts() == Counts(0, 0, {})


def test_untrain_of_what_was_never_trained_changes_nothing() -> None:
    model = trained()
    before = model.counts()
    with pytest.raises(ValueError, match="not trained"):
        model.untrain({"never-seen-token", "council"}, was_spam=True)
    assert model.counts() == before
    with pytest.raises(ValueError, match="not trained"):
        Model().untrain({"x"}, was_spam=False)


def test_train_counts_documents_not_occurrences() -> None:
    model = Model()
    model.train(["buy", "buy", "now"], is_spam=True)
    model.train(["now"], is_spam=False)
    counts = model.counts()
    assert counts.spam_docs == 1 and counts.ham_docs == 1
    assert dict(counts.tokens) == {"buy": (1, 0), "now": (1, 1)}


def test_feature_probability() -> None:
    assert bayes.feature_probability(0, 0, 10, 10) == bayes.PRIOR
    # Seen once in spam only: pulled toward 0.5 by the prior.
    once = bayes.feature_probability(1, 0, 10, 10)
    often = bayes.feature_probability(9, 0, 10, 10)
    assert 0.5 < once < often < 1.0
    # Document totals matter: 5 of 10 spam vs 5 of 1000 ham is spammy.
    assert bayes.feature_probability(5, 5, 10, 1000) > 0.95


# --- heuristics ---------------------------------------------------------------------------


def assess(body: str = "A perfectly normal comment.", **kw: object) -> heuristics.Evidence:
    args: dict[str, object] = {"honeypot": None, "elapsed_seconds": 30.0, "links": 0}
    args.update(kw)
    return heuristics.assess(body, **args)  # type: ignore[arg-type]


def test_nothing_suspicious_gives_no_evidence() -> None:
    evidence = assess()
    assert evidence.points == 0.0 and evidence.reasons == () and evidence.certain is False
    assert heuristics.combine(0.2, evidence) == (pytest.approx(0.2), [])
    # Unknown timing is not evidence.
    assert assess(elapsed_seconds=None).reasons == ()
    assert assess(elapsed_seconds=-5.0).reasons == ()


def test_honeypot_is_certain_spam() -> None:
    evidence = assess(honeypot="http://spam.example")
    assert evidence.certain and evidence.signals.honeypot
    assert heuristics.combine(0.0, evidence) == (1.0, ["honeypot"])
    assert not assess(honeypot="").certain
    assert not assess(honeypot="   ").certain


def test_too_fast_is_strong_evidence() -> None:
    fast = assess(elapsed_seconds=1.2)
    assert fast.reasons == ("too_fast",) and fast.points == heuristics.TOO_FAST_POINTS
    assert assess(elapsed_seconds=heuristics.TOO_FAST_SECONDS).reasons == ()
    score, reasons = heuristics.combine(0.5, fast)
    assert score > 0.9 and reasons == ["too_fast"]


def test_links_from_three() -> None:
    assert assess(links=2).reasons == ()
    three = assess(links=3)
    assert three.reasons == ("links",) and three.signals.links == 3


def test_repetition_detection() -> None:
    body = "Great article! Visit my profile for amazing deals on watches and bags today"
    assert assess(body, recent_bodies=[body]).reasons == ("repeated",)
    near = "great article!!  visit my profile for amazing deals on watches and bags today!"
    assert heuristics.is_repeat(near, [body])
    # One word changed of 13: Jaccard 12/14 < 0.9 -> not a repeat.
    changed = body.replace("watches", "shoes")
    assert not heuristics.is_repeat(changed, [body])
    assert not heuristics.is_repeat(body, ["Something else entirely, about the council vote"])
    # Short bodies must match exactly.
    assert heuristics.is_repeat("Thanks!", ["thanks!"])
    assert not heuristics.is_repeat("Thanks a lot", ["thanks a lot then"])
    assert not heuristics.is_repeat("", [""])
    assert assess(body, recent_bodies=()).reasons == ()


def test_char_runs_and_shouting_are_weak_evidence() -> None:
    run = assess("Wowwwwwwwwwwwww this is good!!!")
    assert run.reasons == ("char_run",) and run.points == heuristics.CHAR_RUN_POINTS
    assert assess("Fine.         Spaces do not count.").reasons == ()
    shout = assess("THIS IS AN OUTRAGE AND EVERYONE SHOULD KNOW IT")
    assert shout.reasons == ("shouting",)
    assert assess("NASA and the EU agreed on something, says the BBC").reasons == ()
    score, _ = heuristics.combine(0.5, shout)
    assert 0.5 < score < 0.75  # weak: alone it does not make spam


def test_combine_adds_log_odds_and_lists_reasons_in_order() -> None:
    evidence = assess(
        "CLICK HERE!!!!!!!!!!!! NOW FOR THE BEST DEALS",
        elapsed_seconds=0.5,
        links=5,
        recent_bodies=["click here!!!!!!!!!!!! now for the best deals"],
    )
    assert evidence.reasons == ("too_fast", "links", "repeated", "char_run", "shouting")
    assert evidence.points == pytest.approx(3.0 + 2.0 + 2.5 + 0.7 + 0.7)
    score, reasons = heuristics.combine(0.95, evidence)
    assert reasons == ["too_fast", "links", "repeated", "char_run", "shouting", "classifier"]
    expected = 1 / (1 + math.exp(-(math.log(0.95 / 0.05) + evidence.points)))
    assert score == pytest.approx(expected)
    # Evidence never lowers the classifier's score; the classifier alone is a reason.
    low = heuristics.combine(0.01, assess(links=3))[0]
    assert 0.01 < low < 0.5
    assert heuristics.combine(0.97, assess()) == (pytest.approx(0.97), ["classifier"])
    # Extreme classifier scores do not break the logit.
    assert heuristics.combine(0.0, assess(links=3))[0] < 1e-6
    assert heuristics.combine(1.0, assess())[0] == pytest.approx(1.0)


def test_features_fit_the_classifier_table() -> None:
    """spam_tokens.token holds 64 characters: longer features keep a head and a hash, and
    stay distinct and stable."""
    from voxpop.spam.tokens import MAX_FEATURE_CHARS, features

    long_host = "https://" + "a" * 60 + ".example.com/x"
    other_host = "https://" + "a" * 60 + ".example.org/x"
    one = features(f"see {long_host} and {'7' * 300}", website="https://" + "b" * 200 + ".org")
    assert max(len(t) for t in one) <= MAX_FEATURE_CHARS
    assert one == features(
        f"see {long_host} and {'7' * 300}", website="https://" + "b" * 200 + ".org"
    )
    domains = {t for t in one | features(f"see {other_host}") if t.startswith("__domain:")}
    assert len(domains) == 2
