"""Caption preprocessing before tokenisation: raw, or nouns and verbs only (as GroupViT and the paper)."""
import functools
import re

CAPTION_MODES = ("raw", "nouns_verbs")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


@functools.lru_cache(maxsize=1)
def _pos_tagger():
    """nltk's averaged-perceptron tagger; its data is not shipped with nltk and must be installed once."""
    try:
        import nltk

        nltk.pos_tag(["test"])
    except ImportError as e:
        raise ImportError("INPUT.CAPTION_MODE=nouns_verbs needs nltk: pip install nltk") from e
    except LookupError as e:
        raise LookupError(
            "INPUT.CAPTION_MODE=nouns_verbs needs nltk's tagger data: "
            "python -m nltk.downloader averaged_perceptron_tagger_eng"
        ) from e
    return nltk.pos_tag


def nouns_and_verbs(caption: str) -> str:
    """Keep the words tagged as nouns (NN*) or verbs (VB*), in order; the caption itself if none are."""
    words = _WORD.findall(caption)
    kept = [word for word, tag in _pos_tagger()(words) if tag.startswith(("NN", "VB"))]
    return " ".join(kept) if kept else caption


def preprocess_caption(caption: str, mode: str) -> str:
    if mode == "raw":
        return caption.strip()
    if mode == "nouns_verbs":
        return nouns_and_verbs(caption)
    raise ValueError(f"INPUT.CAPTION_MODE must be one of {CAPTION_MODES}, got {mode!r}")
