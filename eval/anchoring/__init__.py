"""The anchoring evaluation of anchoring.md: edits with ground truth, voxpop beside a baseline."""
