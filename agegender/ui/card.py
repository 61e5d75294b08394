"""The page's statement of limitations and intended use: from the model card, else a built-in summary."""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Optional, Sequence

from edge.vision import model_store

log = logging.getLogger(__name__)

MODEL_CARD = "MODEL_CARD.md"
MODEL_CARD_OPEN = "MODEL_CARD_OPEN.md"
LIMITATION_HEADINGS = re.compile(r"intended use|out[- ]of[- ]scope|limitation|bias|ethic|caveat", re.I)
MAX_CARD_CHARS = 1600

FALLBACK_LIMITATIONS = (
    "**What this is.** Estimates of *apparent* age and gender from the appearance of a face: not a person's "
    "real age, not their gender identity, and not who they are (no identification, no face recognition).\n\n"
    "**Training data.** UTKFace (licensed for non-commercial research only, so this model is too) and FairFace.\n\n"
    "**Limitations.** Errors are larger for children, for the elderly and for some demographic groups; "
    "lighting, pose, make-up and image quality change the results.\n\n"
    "**Intended use.** Evaluation and aggregate, anonymous statistics. Do not use it to make decisions "
    "about individuals."
)


def _sections(markdown: str) -> list[tuple[int, str, str, int, int]]:
    """(level, heading, body, start, end) for each ATX heading of a Markdown text."""
    out: list[tuple[int, str, str, int, int]] = []
    matches = list(re.finditer(r"^(#{1,6})\s+(.+?)\s*#*\s*$", markdown, re.M))
    for i, m in enumerate(matches):
        level = len(m.group(1))
        end = len(markdown)
        for n in matches[i + 1:]:
            if len(n.group(1)) <= level:
                end = n.start()
                break
        out.append((level, m.group(2).strip(), markdown[m.end():end].strip(), m.start(), end))
    return out


def limitations_from_card(markdown: str, max_chars: int = MAX_CARD_CHARS) -> Optional[str]:
    """The model card's intended-use and limitation sections, shortened; None if it has none."""
    parts: list[str] = []
    taken: list[tuple[int, int]] = []
    for _, heading, body, start, end in _sections(markdown):
        if not LIMITATION_HEADINGS.search(heading) or not body:
            continue
        if any(a <= start < b for a, b in taken):      # a subsection of one already taken
            continue
        taken.append((start, end))
        parts.append(f"**{heading}.** {body}")
    if not parts:
        return None
    text = "\n\n".join(parts)
    if len(text) > max_chars:
        cut = text.rfind("\n", 0, max_chars)
        text = text[:cut if cut > max_chars // 2 else max_chars].rstrip() + " …"
    return text


def card_names(model_path: Optional[Path]) -> tuple[str, ...]:
    """The open (FairFace-only) model has its own card; every other model uses the default one."""
    if model_path is not None and model_path.name.startswith("agegender_open"):
        return (MODEL_CARD_OPEN, MODEL_CARD)
    return (MODEL_CARD,)


def find_model_card(model_path: Optional[Path], models_dirs: Sequence[str] = ()) -> Optional[Path]:
    names = card_names(model_path)
    if model_path is not None:
        for name in names:
            beside = model_path.parent / name
            if beside.is_file():
                return beside
    return model_store.find_file(names, (), tuple(models_dirs))


def limitations_markdown(model_path: Optional[Path], models_dirs: Sequence[str] = ()) -> str:
    """The statement shown on the page: from the model card when it has one, else the built-in text."""
    card = find_model_card(model_path, models_dirs)
    text = None
    if card is not None:
        try:
            text = limitations_from_card(card.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as e:
            log.warning("%s: cannot read the model card (%s); showing the built-in statement", card, e)
    source = f"from {card.name}" if text else "built-in summary; see models/MODEL_CARD.md"
    return f"### Limitations and intended use\n<sub>({source})</sub>\n\n{text or FALLBACK_LIMITATIONS}"
