"""Known LFW label errors that matter for open-set identification: one person filed under two names.

A "non-mated" probe of such a person is in fact mated (the same person is in the gallery under the other
name), so at FPIR 0.1% (1-2 probes of ~1,600 allowed) these few dominate the threshold. The open-set
figures are reported with and without them; nothing else uses this list.

Evidence: the only LFW folder names that are permutations of each other's tokens (name order swapped),
plus one title/name pair; each pair's images score as the same person with SFace (Euclidean distance
between unit vectors; LFW same-person pairs mostly < 1.0, different people mostly > 1.2), measured here:
- Wang_Yingfan / Yingfan_Wang (UN deputy ambassador Wang Yingfan): closest 0.78, mean 0.86;
- Nan_Wang / Wang_Nan (table-tennis player Wang Nan): closest 0.78, mean 0.91;
- Felipe_De_Borbon / Prince_Felipe (Felipe de Borbon, Prince of Asturias): 0.80.
For comparison, Wang_Yingfan / Nan_Wang (two different people): closest 1.27.

Found by listing the non-mated probes nearest the gallery (full LFW, SFace), each checked by eye:
- Eva_Amurri_0001 / Emmy_Rossum_0001: the same photograph under two names (0.21; mean pixel difference 5.9);
- Andrew_Caldecott_0001 / Andrew_Gilligan_0001: the same photograph, cropped slightly apart (0.39);
- Mireya_Elisa_Moscoso_Rodriguez / Mireya_Moscoso (President Mireya Moscoso of Panama, her full name): 0.92.
Left in as genuine non-mated probes: Isabela / Carolina Moraes (twin sisters, 0.75), and every other
near pair, which are different people who look alike."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from faceledger.eval.lfw import LfwImage

SAME_PERSON: tuple[tuple[str, str], ...] = (
    ("Wang_Yingfan", "Yingfan_Wang"),
    ("Nan_Wang", "Wang_Nan"),
    ("Felipe_De_Borbon", "Prince_Felipe"),
    ("Eva_Amurri", "Emmy_Rossum"),
    ("Andrew_Caldecott", "Andrew_Gilligan"),
    ("Mireya_Elisa_Moscoso_Rodriguez", "Mireya_Moscoso"),
)


def aliases(person: str) -> set[str]:
    """The other names the same person is filed under in LFW."""
    return {b if a == person else a for a, b in SAME_PERSON if person in (a, b)}


def without_label_errors(probes: Sequence[LfwImage], gallery_people: Iterable[str]) -> list[bool]:
    """Per probe: True to keep it, False when it is someone in the gallery under another name."""
    present = set(gallery_people)
    return [not (aliases(probe.person) & present) for probe in probes]
