"""Captions: name some of a scene's visible objects by colour, shape or both, in varied templates;
never a colour or shape that is not visible."""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np

from .scene import Scene
from .textures import Background

PLURALS = {"cross": "crosses"}


def plural(word: str) -> str:
    return PLURALS.get(word, word + "s")


TEXTURE_WORDS = {
    "stripes": ("striped", "stripy"), "checker": ("checkered", "tiled"),
    "noise": ("cloudy", "blotchy"), "gradient": ("smooth", "shaded"),
    "dots": ("dotted", "spotted"),
}
FILLERS = ("picture", "image", "photo", "drawing", "scene", "sketch")
ADJECTIVES = ("nice", "simple", "pretty", "small", "cute", "little")
COUNTS = ("one", "two", "three", "four")

# {objs}: phrases with articles ("a red star and a circle"); {bare}: bare words;
# {count}: "two shapes".
OBJECT_TEMPLATES = (
    "a photo of {objs}", "{objs}", "an image of {objs}", "there is {objs} on a {tex} background",
    "{objs} on a {tex} background", "a {tex} {filler} with {objs}", "{objs}, {adj} {filler}",
    "look at {objs}", "a {adj} {filler} of {objs}", "{objs} in this {filler}",
    "i see {objs}", "{objs} here",
)
BARE_TEMPLATES = (
    "{count}: {bare}", "{bare}", "{bare}, {tex} background", "objects: {bare}",
    "{filler}: {bare}", "{bare} in a {adj} {filler}",
)
# one colour, several shapes: {color}, {shapes} (bare list), {shapes_a} (with articles)
SAME_COLOR_TEMPLATES = (
    "{shapes}, in {color}", "{shapes}, all {color}", "{color} shapes: {shapes}",
    "a photo of {shapes_a}, all {color}", "{count} {color} shapes: {shapes}",
    "{shapes_a} in {color} on a {tex} background", "everything is {color}: {shapes}",
    "{shapes_a}, each one {color}",
)
# one shape, several colours: {colors} (bare list), {shapes} (the plural)
SAME_SHAPE_TEMPLATES = (
    "{colors} {shapes}", "{shapes} in {colors}", "{count} {shapes}: {colors}",
    "a photo of {colors} {shapes}", "{colors} {shapes} on a {tex} background",
    "some {shapes}, {colors}", "a {adj} {filler} of {colors} {shapes}",
)


def _article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _join(rng: np.random.Generator, words: Sequence[str]) -> str:
    if len(words) == 1:
        return words[0]
    if rng.random() < 0.3:
        return ", ".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _mention(rng: np.random.Generator, color: Optional[str], shape: Optional[str],
             article: bool) -> str:
    if shape is None:  # colour only; the noun keeps "red, blue star" from reading as "red star"
        words = f"{color} {('shape', 'one', 'object', 'thing')[rng.integers(4)]}"
    else:
        words = f"{color} {shape}" if color else shape
    return _article(words) if article else words


def _fill(rng: np.random.Generator, template: str, bg: Background, **kw) -> str:
    pick = lambda seq: seq[rng.integers(len(seq))]  # noqa: E731
    return template.format(tex=pick(TEXTURE_WORDS[bg.texture]), filler=pick(FILLERS),
                           adj=pick(ADJECTIVES), **kw)


def _listing(rng: np.random.Generator, mentions: List[Tuple[Optional[str], Optional[str]]],
             bg: Background) -> str:
    """Caption that lists (colour, shape) mentions, with articles or as bare words."""
    if rng.random() < 0.7:
        phrases = [_mention(rng, c, s, article=True) for c, s in mentions]
        return _fill(rng, OBJECT_TEMPLATES[rng.integers(len(OBJECT_TEMPLATES))], bg,
                     objs=_join(rng, phrases))
    phrases = [_mention(rng, c, s, article=False) for c, s in mentions]
    return _fill(rng, BARE_TEMPLATES[rng.integers(len(BARE_TEMPLATES))], bg,
                 bare=_join(rng, phrases),
                 count=COUNTS[len(phrases) - 1] + (" shapes" if len(phrases) > 1 else " shape"))


def make_caption(scene: Scene, rng: np.random.Generator, same_color_shape_only: float = 0.25) -> str:
    """A caption naming only colours and shapes of ``scene``'s (visible) objects.

    Mixed scenes name each object by colour + shape, shape only or colour only, and may
    leave some objects out. Same-colour scenes name every shape (and their colour at the
    rate ``1 - same_color_shape_only``); same-shape scenes name
    every colour. Order is shuffled.
    """
    objs = [scene.objects[i] for i in rng.permutation(len(scene.objects))]
    bg = scene.background
    mode = rng.random()
    if scene.kind == "same_color":  # also when the layout kept one object: its shape is still named
        shapes = [o.shape for o in objs]
        with_color = 1.0 - same_color_shape_only  # of which two thirds templates, one third listings
        if mode < with_color * 2 / 3 and len(objs) > 1:
            return _fill(rng, SAME_COLOR_TEMPLATES[rng.integers(len(SAME_COLOR_TEMPLATES))], bg,
                         color=objs[0].color, shapes=_join(rng, shapes),
                         shapes_a=_join(rng, [_article(s) for s in shapes]),
                         count=COUNTS[len(shapes) - 1])
        return _listing(rng, [(o.color if mode < with_color else None, o.shape) for o in objs], bg)
    if scene.kind == "same_shape" and len(objs) > 1:
        colors = [o.color for o in objs]
        if mode < 0.5:
            return _fill(rng, SAME_SHAPE_TEMPLATES[rng.integers(len(SAME_SHAPE_TEMPLATES))], bg,
                         colors=_join(rng, colors), shapes=plural(objs[0].shape),
                         count=COUNTS[len(colors) - 1])
        with_shape = mode < 0.75
        return _listing(rng, [(o.color, o.shape if with_shape else None) for o in objs], bg)
    keep = rng.random(len(objs)) > 0.1
    keep[rng.integers(len(objs))] = True
    styles = rng.choice(3, len(objs), p=[0.5, 0.25, 0.25])  # both, shape only, colour only
    mentions = [(None if st == 1 else o.color, None if st == 2 else o.shape)
                for o, st, k in zip(objs, styles, keep) if k]
    return _listing(rng, mentions, bg)
