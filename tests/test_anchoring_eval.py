"""A reduced run of the anchoring evaluation (eval/anchoring) as a regression gate.

Every edit kind of anchoring.md, single and in chains of five, with other readers' notes
on the same texts: no note may be anchored to the wrong text, and the notes whose
passage survives must mostly be found. The full run is ``eval/run``.
"""

from __future__ import annotations

from eval.anchoring import evaluate


def test_reduced_evaluation_has_no_mis_anchors_and_high_recall() -> None:
    rows = evaluate.run(cases=10, chains=30, seed=7, bystanders=2)
    targeted = [
        o for name, tally in rows.items() if name != evaluate.BYSTANDERS for o in tally.outcomes
    ]
    everything = targeted + rows[evaluate.BYSTANDERS].outcomes
    assert len(targeted) == 10 * len(evaluate.KINDS) + 30

    ours = evaluate.metrics(everything, ours=True)
    report, _ = evaluate.table(rows)
    assert ours.mis == 0, report
    assert evaluate.metrics(targeted, ours=True).recall >= 0.9, report
    assert ours.orphan_recall == 1.0, report
    # The baseline is measured on the same cases: a sanity check that they are hard.
    assert evaluate.metrics(targeted, ours=False).mis > len(targeted) // 5, report
