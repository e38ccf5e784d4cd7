"""Label palettes as plain data, name matching between label spaces, and canvas colours -> label ids.

Each palette lists Label(id, name, rgb) for one label space. Ids are the values the model reads;
colours are what the canvas paints. A model's own model.json label table wins over these defaults.
Colours must stay pairwise at least MIN_COLOUR_DISTANCE apart (RGB Euclidean) so antialiased
strokes can be decoded; `validate_palette` checks that and names the clashing entries.
Palettes of other doodle apps (a list of {"color": [r, g, b], "label": name, "id": n}) load with
`palette_from_dicts`; names match across label spaces through ALIASES (`canonical_name`).
"""
from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import numpy as np
from scipy import ndimage

MIN_COLOUR_DISTANCE = 10.0
MAX_NAME_LENGTH = 64


class Label(NamedTuple):
    """One class of a label space: the id the model reads, its name, and its canvas colour."""

    id: int
    name: str
    rgb: tuple[int, int, int]


def check_labels(labels: object) -> None:
    """Raise ValueError unless labels is a list of Label (a palette edited with plain tuples names its first)."""
    if not isinstance(labels, list) or not all(isinstance(label, Label) for label in labels):
        found = type(labels).__name__ if not isinstance(labels, list) else next(
            f"{type(label).__name__} {label!r:.60}" for label in labels if not isinstance(label, Label))
        raise ValueError(f"a palette is a list of label_colors.Label(id, name, rgb), found {found}")


def validate_palette(labels: list[Label], min_distance: float = MIN_COLOUR_DISTANCE) -> None:
    """Raise ValueError naming bad or duplicate ids, empty or duplicate names, bad or too-close colours."""
    problems = []
    seen_ids: dict[int, Label] = {}
    seen_names: dict[str, Label] = {}
    check_labels(labels)
    for label in labels:
        if isinstance(label.id, np.integer):
            problems.append(f"{label.name!r} has id {label.id} as {type(label.id).__name__}; expected a Python int "
                            "(int(...) converts it)")
        elif not isinstance(label.id, int) or isinstance(label.id, bool) or label.id < 0:
            problems.append(f"{label.name!r} has id {label.id!r}; expected an integer from 0")
        elif label.id in seen_ids:
            problems.append(f"duplicate id {label.id}: {seen_ids[label.id].name!r} and {label.name!r}")
        seen_ids[label.id] = label
        if not isinstance(label.name, str) or not label.name.strip():
            problems.append(f"id {label.id} has an empty name")
            continue
        if len(label.name) > MAX_NAME_LENGTH:
            problems.append(f"id {label.id} has a name of {len(label.name)} characters (at most {MAX_NAME_LENGTH})")
        key = label.name.strip().casefold()  # the page's chips and name matching would not tell them apart
        if key in seen_names:
            problems.append(f"duplicate name {label.name!r}: ids {seen_names[key].id} and {label.id}")
        seen_names[key] = label
        if isinstance(label.rgb, np.ndarray) or isinstance(label.rgb, (tuple, list)) and any(
                isinstance(c, np.generic) for c in label.rgb):
            problems.append(f"id {label.id} ({label.name!r}) has colour {_plain_numbers(label.rgb)} in NumPy types; "
                            "expected a tuple of three Python ints in 0..255")
        elif not isinstance(label.rgb, (tuple, list)) or len(label.rgb) != 3 or not all(
                isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in label.rgb):
            problems.append(f"id {label.id} ({label.name!r}) has colour {label.rgb}; expected three ints in 0..255")
    if problems:  # colour distances need valid colours
        raise ValueError(_palette_problems(problems))
    for a, b in itertools.combinations(labels, 2):
        distance = math.dist(a.rgb, b.rgb)
        if distance < min_distance:
            problems.append(
                f"colours of {a.id} {a.name!r} {tuple(a.rgb)} and {b.id} {b.name!r} {tuple(b.rgb)} "
                f"are {distance:.1f} apart (need at least {min_distance})"
            )
    if problems:
        raise ValueError(_palette_problems(problems))


def _plain_numbers(values: np.ndarray | tuple | list, limit: int = 60) -> str:
    """A NumPy array or a sequence holding NumPy scalars as a plain list, for a message, cut after limit characters."""
    plain = values.ravel()[:limit].tolist() if isinstance(values, np.ndarray) else [
        c.item() if isinstance(c, np.generic) else c for c in values]
    text = str(plain)
    return text if len(text) <= limit else text[:limit] + " …"


def _palette_problems(problems: list[str], shown: int = 5) -> str:
    """The message for a palette's problems: the first few, and how many more."""
    more = f"; and {len(problems) - shown} more" if len(problems) > shown else ""
    return "invalid palette: " + "; ".join(problems[:shown]) + more


def palette_from_dicts(entries: object) -> list[Label]:
    """The common palette format of doodle apps, [{"color": [r, g, b], "label": name, "id": n}, ...], checked."""
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"expected a non-empty list of {{'color', 'label', 'id'}} objects, found {type(entries).__name__}")
    labels = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ValueError(f"entry {i}: expected an object with color, label and id, found {type(entry).__name__}")
        colour = entry.get("color", entry.get("colour", entry.get("rgb")))
        name = entry.get("label", entry.get("name"))
        ident = entry.get("id", i)
        if not isinstance(colour, (list, tuple)) or len(colour) != 3 or not all(
                isinstance(c, int) and not isinstance(c, bool) for c in colour):
            raise ValueError(f"entry {i}: 'color' must be three ints in 0..255, found {colour!r}")
        if not isinstance(name, str):
            raise ValueError(f"entry {i}: 'label' must be a string, found {type(name).__name__}")
        if not isinstance(ident, int) or isinstance(ident, bool) or not 0 <= ident <= 255:
            raise ValueError(f"entry {i}: 'id' must be an int in 0..255, found {ident!r}")
        labels.append(Label(ident, name, tuple(colour)))
    validate_palette(labels)
    return labels


# Names that mean the same class in different label spaces (after lower-casing, joining separators with
# spaces and dropping an "other"/"merged"/"stuff" suffix: "sky-other" is already "sky").
ALIASES = {
    "clouds": "cloud", "fire hydrant": "fire", "trees": "tree", "mountains": "mountain", "hills": "hill",
    "rocks": "rock", "stones": "stone", "flowers": "flower", "bushes": "bush", "ocean": "sea", "plants": "plant",
    "grassland": "grass", "lawn": "grass", "sand beach": "sand", "beach": "sand", "earth": "dirt", "soil": "dirt",
}


def canonical_name(name: str) -> str:
    """One spelling per class, used wherever label names are compared: 'Sky-other' == 'sky', 'clouds' == 'cloud'."""
    name = " ".join(name.strip().lower().replace("_", " ").replace("-", " ").split())
    for suffix in (" other", " merged", " stuff"):
        name = name.removesuffix(suffix)
    return ALIASES.get(name, name)


PALETTES: dict[str, list[Label]] = {
    'coco': [  # COCO-Stuff, 0-based ids as in the label maps; 0..90 things, 91..181 stuff
        Label(0, 'person', (233, 23, 37)),
        Label(1, 'bicycle', (65, 169, 103)),
        Label(2, 'car', (190, 30, 153)),
        Label(3, 'motorcycle', (34, 114, 203)),
        Label(4, 'airplane', (159, 197, 13)),
        Label(5, 'bus', (96, 58, 63)),
        Label(6, 'train', (221, 141, 113)),
        Label(7, 'truck', (18, 225, 163)),
        Label(8, 'boat', (143, 12, 213)),
        Label(9, 'traffic light', (81, 95, 23)),
        Label(10, 'fire hydrant', (206, 178, 73)),
        Label(11, 'street sign', (49, 40, 123)),
        Label(12, 'stop sign', (174, 123, 173)),
        Label(13, 'parking meter', (112, 206, 223)),
        Label(14, 'bench', (237, 67, 33)),
        Label(15, 'bird', (10, 151, 83)),
        Label(16, 'cat', (135, 234, 133)),
        Label(17, 'dog', (73, 21, 183)),
        Label(18, 'horse', (198, 104, 233)),
        Label(19, 'sheep', (42, 188, 43)),
        Label(20, 'cow', (167, 49, 93)),
        Label(21, 'elephant', (107, 134, 144)),
        Label(22, 'bear', (229, 215, 193)),
        Label(23, 'zebra', (26, 77, 243)),
        Label(24, 'giraffe', (151, 160, 5)),
        Label(25, 'hat', (88, 243, 55)),
        Label(26, 'backpack', (213, 6, 105)),
        Label(27, 'umbrella', (57, 89, 155)),
        Label(28, 'shoe', (182, 172, 205)),
        Label(29, 'eye glasses', (120, 33, 15)),
        Label(30, 'handbag', (245, 117, 65)),
        Label(31, 'tie', (6, 200, 115)),
        Label(32, 'suitcase', (131, 61, 165)),
        Label(33, 'frisbee', (194, 228, 25)),
        Label(34, 'skis', (38, 15, 75)),
        Label(35, 'snowboard', (163, 98, 125)),
        Label(36, 'sports ball', (100, 182, 175)),
        Label(37, 'kite', (225, 43, 225)),
        Label(38, 'baseball bat', (147, 209, 85)),
        Label(39, 'baseball glove', (85, 70, 135)),
        Label(40, 'skateboard', (210, 154, 185)),
        Label(41, 'surfboard', (53, 237, 235)),
        Label(42, 'tennis racket', (178, 24, 45)),
        Label(43, 'bottle', (241, 191, 145)),
        Label(44, 'plate', (139, 135, 245)),
        Label(45, 'wine glass', (77, 219, 7)),
        Label(46, 'cup', (202, 80, 57)),
        Label(47, 'fork', (170, 246, 157)),
        Label(48, 'knife', (108, 9, 207)),
        Label(49, 'spoon', (233, 92, 17)),
        Label(50, 'bowl', (30, 175, 67)),
        Label(51, 'banana', (155, 36, 117)),
        Label(52, 'apple', (92, 120, 167)),
        Label(53, 'sandwich', (217, 203, 217)),
        Label(54, 'orange', (61, 64, 27)),
        Label(55, 'broccoli', (186, 148, 77)),
        Label(56, 'carrot', (249, 18, 177)),
        Label(57, 'hot dog', (4, 101, 227)),
        Label(58, 'pizza', (129, 185, 37)),
        Label(59, 'donut', (67, 46, 87)),
        Label(60, 'cake', (192, 129, 137)),
        Label(61, 'chair', (36, 212, 187)),
        Label(62, 'couch', (161, 73, 237)),
        Label(63, 'potted plant', (98, 157, 47)),
        Label(64, 'bed', (223, 240, 97)),
        Label(65, 'mirror', (20, 27, 147)),
        Label(66, 'dining table', (145, 111, 197)),
        Label(67, 'window', (83, 194, 247)),
        Label(68, 'desk', (51, 138, 59)),
        Label(69, 'toilet', (176, 222, 109)),
        Label(70, 'door', (114, 83, 159)),
        Label(71, 'tv', (239, 166, 209)),
        Label(72, 'laptop', (12, 249, 19)),
        Label(73, 'mouse', (137, 4, 69)),
        Label(74, 'remote', (44, 31, 219)),
        Label(75, 'keyboard', (169, 115, 29)),
        Label(76, 'cell phone', (106, 198, 79)),
        Label(77, 'microwave', (231, 59, 129)),
        Label(78, 'oven', (28, 142, 179)),
        Label(79, 'toaster', (153, 226, 229)),
        Label(80, 'sink', (90, 13, 39)),
        Label(81, 'refrigerator', (215, 96, 89)),
        Label(82, 'blender', (59, 179, 139)),
        Label(83, 'book', (184, 41, 189)),
        Label(84, 'clock', (247, 207, 49)),
        Label(85, 'vase', (8, 68, 99)),
        Label(86, 'scissors', (71, 235, 199)),
        Label(87, 'teddy bear', (196, 22, 249)),
        Label(88, 'hair drier', (40, 105, 11)),
        Label(89, 'toothbrush', (165, 189, 61)),
        Label(90, 'hair brush', (102, 50, 111)),
        Label(91, 'banner', (227, 133, 161)),
        Label(92, 'blanket', (24, 216, 211)),
        Label(93, 'branch', (149, 78, 21)),
        Label(94, 'bridge', (211, 244, 121)),
        Label(95, 'building-other', (199, 107, 61)),
        Label(96, 'bush', (67, 157, 73)),
        Label(97, 'cabinet', (243, 34, 81)),
        Label(98, 'cage', (16, 118, 131)),
        Label(99, 'cardboard', (141, 201, 181)),
        Label(100, 'carpet', (79, 62, 231)),
        Label(101, 'ceiling-other', (204, 146, 41)),
        Label(102, 'ceiling-tile', (47, 229, 91)),
        Label(103, 'cloth', (110, 99, 191)),
        Label(104, 'clothes', (235, 183, 241)),
        Label(105, 'clouds', (214, 218, 250)),
        Label(106, 'counter', (32, 44, 51)),
        Label(107, 'cupboard', (157, 127, 101)),
        Label(108, 'curtain', (94, 210, 151)),
        Label(109, 'desk-stuff', (219, 71, 201)),
        Label(110, 'dirt', (149, 107, 83)),
        Label(111, 'door-stuff', (63, 155, 251)),
        Label(112, 'fence', (126, 25, 53)),
        Label(113, 'floor-marble', (251, 108, 103)),
        Label(114, 'floor-other', (3, 192, 153)),
        Label(115, 'floor-stone', (128, 53, 203)),
        Label(116, 'floor-tile', (66, 136, 13)),
        Label(117, 'floor-wood', (191, 220, 63)),
        Label(118, 'flower', (247, 97, 193)),
        Label(119, 'fog', (193, 199, 203)),
        Label(120, 'food-other', (35, 81, 113)),
        Label(121, 'fruit', (97, 247, 213)),
        Label(122, 'furniture-other', (19, 93, 73)),
        Label(123, 'grass', (161, 241, 97)),
        Label(124, 'gravel', (144, 176, 123)),
        Label(125, 'ground-other', (11, 19, 233)),
        Label(126, 'hill', (117, 163, 29)),
        Label(127, 'house', (211, 67, 17)),
        Label(128, 'leaves', (105, 75, 5)),
        Label(129, 'light', (230, 158, 55)),
        Label(130, 'mat', (27, 241, 105)),
        Label(131, 'metal', (152, 28, 155)),
        Label(132, 'mirror-stuff', (89, 112, 205)),
        Label(133, 'moss', (214, 195, 15)),
        Label(134, 'mountain', (139, 97, 57)),
        Label(135, 'mud', (121, 223, 165)),
        Label(136, 'napkin', (7, 167, 25)),
        Label(137, 'net', (132, 250, 75)),
        Label(138, 'paper', (70, 5, 125)),
        Label(139, 'pavement', (195, 88, 175)),
        Label(140, 'pillow', (39, 171, 225)),
        Label(141, 'plant-other', (117, 42, 245)),
        Label(142, 'plastic', (242, 125, 7)),
        Label(143, 'platform', (15, 208, 57)),
        Label(144, 'playingfield', (140, 69, 107)),
        Label(145, 'railing', (78, 153, 157)),
        Label(146, 'railroad', (203, 236, 207)),
        Label(147, 'river', (59, 149, 211)),
        Label(148, 'road', (151, 149, 157)),
        Label(149, 'rock', (113, 109, 104)),
        Label(150, 'roof', (46, 23, 17)),
        Label(151, 'rug', (171, 106, 67)),
        Label(152, 'salad', (109, 190, 117)),
        Label(153, 'sand', (241, 207, 113)),
        Label(154, 'sea', (13, 59, 197)),
        Label(155, 'shelf', (234, 51, 167)),
        Label(156, 'sky-other', (110, 165, 245)),
        Label(157, 'skyscraper', (187, 8, 227)),
        Label(158, 'snow', (250, 251, 253)),
        Label(159, 'solid-other', (250, 174, 87)),
        Label(160, 'stairs', (37, 147, 97)),
        Label(161, 'stone', (224, 100, 247)),
        Label(162, 'straw', (21, 184, 9)),
        Label(163, 'structural-other', (146, 45, 59)),
        Label(164, 'table', (84, 128, 109)),
        Label(165, 'tent', (209, 211, 159)),
        Label(166, 'textile-other', (52, 72, 209)),
        Label(167, 'towel', (177, 156, 19)),
        Label(168, 'tree', (23, 110, 31)),
        Label(169, 'vegetable', (240, 26, 119)),
        Label(170, 'wall-brick', (13, 109, 169)),
        Label(171, 'wall-concrete', (138, 193, 219)),
        Label(172, 'wall-other', (44, 221, 129)),
        Label(173, 'wall-panel', (169, 82, 179)),
        Label(174, 'wall-stone', (232, 248, 39)),
        Label(175, 'wall-tile', (9, 233, 249)),
        Label(176, 'wall-wood', (72, 103, 61)),
        Label(177, 'water-other', (19, 151, 241)),
        Label(178, 'waterdrops', (197, 187, 111)),
        Label(179, 'window-blind', (41, 48, 161)),
        Label(180, 'window-other', (166, 131, 211)),
        Label(181, 'wood', (103, 214, 21)),
    ],
    'ade20k': [  # raw ADE20K values: 0 = other, k = class k of objectInfo150
        Label(0, 'other', (0, 0, 0)),
        Label(1, 'wall', (120, 120, 120)),
        Label(2, 'building', (180, 120, 120)),
        Label(3, 'sky', (6, 230, 230)),
        Label(4, 'floor', (80, 50, 50)),
        Label(5, 'tree', (4, 200, 3)),
        Label(6, 'ceiling', (120, 120, 80)),
        Label(7, 'road', (140, 140, 140)),
        Label(8, 'bed', (204, 5, 255)),
        Label(9, 'windowpane', (230, 230, 230)),
        Label(10, 'grass', (4, 250, 7)),
        Label(11, 'cabinet', (224, 5, 255)),
        Label(12, 'sidewalk', (235, 255, 7)),
        Label(13, 'person', (150, 5, 61)),
        Label(14, 'earth', (120, 120, 70)),
        Label(15, 'door', (8, 255, 51)),
        Label(16, 'table', (255, 6, 82)),
        Label(17, 'mountain', (143, 255, 140)),
        Label(18, 'plant', (204, 255, 4)),
        Label(19, 'curtain', (255, 51, 7)),
        Label(20, 'chair', (204, 70, 3)),
        Label(21, 'car', (0, 102, 200)),
        Label(22, 'water', (61, 230, 250)),
        Label(23, 'painting', (255, 6, 51)),
        Label(24, 'sofa', (11, 102, 255)),
        Label(25, 'shelf', (255, 7, 71)),
        Label(26, 'house', (255, 9, 224)),
        Label(27, 'sea', (9, 7, 230)),
        Label(28, 'mirror', (220, 220, 220)),
        Label(29, 'rug', (255, 9, 92)),
        Label(30, 'field', (112, 9, 255)),
        Label(31, 'armchair', (8, 255, 214)),
        Label(32, 'seat', (7, 255, 224)),
        Label(33, 'fence', (255, 184, 6)),
        Label(34, 'desk', (10, 255, 71)),
        Label(35, 'rock', (255, 41, 10)),
        Label(36, 'wardrobe', (7, 255, 255)),
        Label(37, 'lamp', (224, 255, 8)),
        Label(38, 'bathtub', (102, 8, 255)),
        Label(39, 'railing', (255, 61, 6)),
        Label(40, 'cushion', (255, 194, 7)),
        Label(41, 'base', (255, 122, 8)),
        Label(42, 'box', (0, 255, 20)),
        Label(43, 'column', (255, 8, 41)),
        Label(44, 'signboard', (255, 5, 153)),
        Label(45, 'chest of drawers', (6, 51, 255)),
        Label(46, 'counter', (235, 12, 255)),
        Label(47, 'sand', (160, 150, 20)),
        Label(48, 'sink', (0, 163, 255)),
        Label(49, 'skyscraper', (132, 132, 132)),  # widely used palette: (140, 140, 140)
        Label(50, 'fireplace', (250, 10, 15)),
        Label(51, 'refrigerator', (20, 255, 0)),
        Label(52, 'grandstand', (31, 255, 0)),
        Label(53, 'path', (255, 31, 0)),
        Label(54, 'stairs', (255, 224, 0)),
        Label(55, 'runway', (153, 255, 0)),
        Label(56, 'case', (0, 0, 255)),
        Label(57, 'pool table', (255, 71, 0)),
        Label(58, 'pillow', (0, 235, 255)),
        Label(59, 'screen door', (0, 173, 255)),
        Label(60, 'stairway', (31, 0, 255)),
        Label(61, 'river', (11, 200, 200)),
        Label(62, 'bridge', (255, 82, 0)),
        Label(63, 'bookcase', (0, 255, 245)),
        Label(64, 'blind', (0, 61, 255)),
        Label(65, 'coffee table', (0, 255, 112)),
        Label(66, 'toilet', (0, 255, 133)),
        Label(67, 'flower', (255, 0, 0)),
        Label(68, 'book', (255, 163, 0)),
        Label(69, 'hill', (255, 102, 0)),
        Label(70, 'bench', (194, 255, 0)),
        Label(71, 'countertop', (0, 143, 255)),
        Label(72, 'stove', (51, 255, 0)),
        Label(73, 'palm', (0, 82, 255)),
        Label(74, 'kitchen island', (0, 255, 41)),
        Label(75, 'computer', (0, 255, 173)),
        Label(76, 'swivel chair', (10, 0, 255)),
        Label(77, 'boat', (173, 255, 0)),
        Label(78, 'bar', (0, 255, 153)),
        Label(79, 'arcade machine', (255, 92, 0)),
        Label(80, 'hovel', (255, 0, 255)),
        Label(81, 'bus', (255, 0, 245)),
        Label(82, 'towel', (255, 0, 102)),
        Label(83, 'light', (255, 173, 0)),
        Label(84, 'truck', (255, 0, 20)),
        Label(85, 'tower', (255, 184, 184)),
        Label(86, 'chandelier', (0, 31, 255)),
        Label(87, 'awning', (0, 255, 61)),
        Label(88, 'streetlight', (0, 71, 255)),
        Label(89, 'booth', (255, 0, 204)),
        Label(90, 'television receiver', (0, 255, 194)),
        Label(91, 'airplane', (0, 255, 82)),
        Label(92, 'dirt track', (0, 10, 255)),
        Label(93, 'apparel', (0, 112, 255)),
        Label(94, 'pole', (51, 0, 255)),
        Label(95, 'land', (0, 194, 255)),
        Label(96, 'bannister', (0, 122, 255)),
        Label(97, 'escalator', (0, 255, 163)),
        Label(98, 'ottoman', (255, 153, 0)),
        Label(99, 'bottle', (10, 245, 20)),  # widely used palette: (0, 255, 10)
        Label(100, 'buffet', (255, 112, 0)),
        Label(101, 'poster', (143, 255, 0)),
        Label(102, 'stage', (82, 0, 255)),
        Label(103, 'van', (163, 255, 0)),
        Label(104, 'ship', (255, 235, 0)),
        Label(105, 'fountain', (8, 184, 170)),
        Label(106, 'conveyer belt', (133, 0, 255)),
        Label(107, 'canopy', (0, 255, 92)),
        Label(108, 'washer', (184, 0, 255)),
        Label(109, 'plaything', (255, 0, 31)),
        Label(110, 'swimming pool', (0, 184, 255)),
        Label(111, 'stool', (0, 214, 255)),
        Label(112, 'barrel', (255, 0, 112)),
        Label(113, 'basket', (92, 255, 0)),
        Label(114, 'waterfall', (0, 224, 255)),
        Label(115, 'tent', (112, 224, 255)),
        Label(116, 'bag', (70, 184, 160)),
        Label(117, 'minibike', (163, 0, 255)),
        Label(118, 'cradle', (153, 0, 255)),
        Label(119, 'oven', (71, 255, 0)),
        Label(120, 'ball', (255, 0, 163)),
        Label(121, 'food', (255, 204, 0)),
        Label(122, 'step', (255, 0, 143)),
        Label(123, 'tank', (0, 255, 235)),
        Label(124, 'trade name', (133, 255, 0)),
        Label(125, 'microwave', (255, 0, 235)),
        Label(126, 'pot', (245, 0, 255)),
        Label(127, 'animal', (255, 0, 122)),
        Label(128, 'bicycle', (255, 245, 0)),
        Label(129, 'lake', (10, 190, 212)),
        Label(130, 'dishwasher', (214, 255, 0)),
        Label(131, 'screen', (0, 204, 255)),
        Label(132, 'blanket', (20, 0, 255)),
        Label(133, 'sculpture', (255, 255, 0)),
        Label(134, 'hood', (0, 153, 255)),
        Label(135, 'sconce', (0, 41, 255)),
        Label(136, 'vase', (0, 255, 204)),
        Label(137, 'traffic light', (41, 0, 255)),
        Label(138, 'tray', (41, 255, 0)),
        Label(139, 'ashcan', (173, 0, 255)),
        Label(140, 'fan', (0, 245, 255)),
        Label(141, 'pier', (71, 0, 255)),
        Label(142, 'crt screen', (122, 0, 255)),
        Label(143, 'plate', (0, 255, 184)),
        Label(144, 'monitor', (0, 92, 255)),
        Label(145, 'bulletin board', (184, 255, 0)),
        Label(146, 'shower', (0, 133, 255)),
        Label(147, 'radiator', (255, 214, 0)),
        Label(148, 'glass', (25, 194, 194)),
        Label(149, 'clock', (102, 255, 0)),
        Label(150, 'flag', (92, 0, 255)),
    ],
    'cityscapes': [  # Cityscapes labelIds 0..33, plus 34 = license plate (official id -1)
        Label(0, 'unlabeled', (0, 0, 0)),
        Label(1, 'ego vehicle', (8, 8, 8)),  # official colour: (0, 0, 0)
        Label(2, 'rectification border', (0, 0, 12)),  # official colour: (0, 0, 0)
        Label(3, 'out of roi', (0, 12, 0)),  # official colour: (0, 0, 0)
        Label(4, 'static', (12, 0, 0)),  # official colour: (0, 0, 0)
        Label(5, 'dynamic', (111, 74, 0)),
        Label(6, 'ground', (81, 0, 81)),
        Label(7, 'road', (128, 64, 128)),
        Label(8, 'sidewalk', (244, 35, 232)),
        Label(9, 'parking', (250, 170, 160)),
        Label(10, 'rail track', (230, 150, 140)),
        Label(11, 'building', (70, 70, 70)),
        Label(12, 'wall', (102, 102, 156)),
        Label(13, 'fence', (190, 153, 153)),
        Label(14, 'guard rail', (180, 165, 180)),
        Label(15, 'bridge', (150, 100, 100)),
        Label(16, 'tunnel', (150, 120, 90)),
        Label(17, 'pole', (153, 153, 153)),
        Label(18, 'polegroup', (145, 145, 145)),  # official colour: (153, 153, 153)
        Label(19, 'traffic light', (250, 170, 30)),
        Label(20, 'traffic sign', (220, 220, 0)),
        Label(21, 'vegetation', (107, 142, 35)),
        Label(22, 'terrain', (152, 251, 152)),
        Label(23, 'sky', (70, 130, 180)),
        Label(24, 'person', (220, 20, 60)),
        Label(25, 'rider', (255, 0, 0)),
        Label(26, 'car', (0, 0, 142)),
        Label(27, 'truck', (0, 0, 70)),
        Label(28, 'bus', (0, 60, 100)),
        Label(29, 'caravan', (0, 0, 90)),
        Label(30, 'trailer', (0, 0, 110)),
        Label(31, 'train', (0, 80, 100)),
        Label(32, 'motorcycle', (0, 0, 230)),
        Label(33, 'bicycle', (119, 11, 32)),
        Label(34, 'license plate', (8, 8, 134)),  # official colour: (0, 0, 142)
    ],
    'landscape': [  # the shipped model's labels: COCO names and colours
        Label(0, 'sky-other', (110, 165, 245)),
        Label(1, 'clouds', (214, 218, 250)),
        Label(2, 'mountain', (139, 97, 57)),
        Label(3, 'hill', (117, 163, 29)),
        Label(4, 'snow', (250, 251, 253)),
        Label(5, 'rock', (113, 109, 104)),
        Label(6, 'tree', (23, 110, 31)),
        Label(7, 'bush', (67, 157, 73)),
        Label(8, 'grass', (161, 241, 97)),
        Label(9, 'flower', (247, 97, 193)),
        Label(10, 'sand', (241, 207, 113)),
        Label(11, 'sea', (13, 59, 197)),
        Label(12, 'river', (59, 149, 211)),
        Label(13, 'dirt', (149, 107, 83)),
    ],
}


# ---------------------------------------------------------------- canvas colours -> label ids
ALPHA_THRESHOLD = 128  # painted pixels: alpha at least this
FLAT_TOLERANCE = 8  # a 3x3 patch spanning at most this in every channel is flat: part of a region of near-equal colour
REGION_SPREAD = 24.0  # a region pixel this far from its region's mean colour is resolved locally instead
NEAR_DISTANCE = 4.0  # a seam pixel this close to a palette colour (and none shown exactly around it) shows it
FAR_DISTANCE = 60.0  # no label is given to colours farther than this from its colour: they are unpainted
MAX_SEAM_FRACTION = 0.3  # beyond this share of pixels between regions, the image is converted pixel by pixel
GROWTH_ROUNDS = 2  # seam pixels choose among the labels decided around them this many rounds,
SEED_RADII = (2, 4)  # then among those within these radii
CANVAS_BACKGROUNDS = ((255, 255, 255), (0, 0, 0))  # an opaque white or black canvas, unless a label has the colour


def _check_canvas(rgba: np.ndarray) -> np.ndarray:
    array = np.asarray(rgba)
    if array.ndim != 3 or array.shape[2] not in (3, 4) or min(array.shape[:2]) == 0:
        raise ValueError(f"expected an (H, W, 4) RGBA or (H, W, 3) RGB image, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
        raise ValueError(f"expected uint8 colour values, got dtype {array.dtype}")
    if array.dtype != np.uint8 and (array.min() < 0 or array.max() > 255):
        raise ValueError(f"colour values must lie in 0..255, found {array.min()}..{array.max()}")
    return array.astype(np.int16, copy=False)


def _nearest(colours: np.ndarray, rgb: np.ndarray, chunk: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """(index, distance) of the nearest of colours (K, 3) for each (N, 3) colour, in chunks to bound memory."""
    colours32 = colours.astype(np.float32)
    norms = (colours32 * colours32).sum(-1)
    index, distance = np.empty(len(rgb), np.int64), np.empty(len(rgb), np.float64)
    for start in range(0, len(rgb), chunk):
        part = rgb[start:start + chunk].astype(np.float32)
        squared = norms[None, :] - 2 * part @ colours32.T  # |p - c|² - |p|²: same order, a matrix product
        best = squared.argmin(axis=1)
        index[start:start + chunk] = best
        exact = ((part - colours32[best]) ** 2).sum(-1)
        distance[start:start + chunk] = np.sqrt(exact)
    return index, distance


def _nearest_binned(colours: np.ndarray, rgb: np.ndarray, bits: int = 5) -> np.ndarray:
    """Index of the palette colour nearest to each colour's bin centre (2**bits levels a channel): O(pixels)."""
    shift = 8 - bits
    levels = (np.arange(1 << bits) << shift) + (1 << shift) // 2
    centres = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(-1, 3)
    table, _ = _nearest(colours, centres)
    q = rgb.astype(np.int64) >> shift
    return table[(q[..., 0] << (2 * bits)) | (q[..., 1] << bits) | q[..., 2]]


def _flat(rgb: np.ndarray, painted: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """Painted pixels whose 3x3 patch is all painted, spans at most FLAT_TOLERANCE in every channel and shows
    one palette colour exactly throughout or none (so snow next to a white canvas is two regions)."""
    flat = ndimage.minimum_filter(painted, size=3, mode="nearest")
    flat &= ndimage.maximum_filter(exact, size=3, mode="nearest") == ndimage.minimum_filter(exact, size=3, mode="nearest")
    for c in range(3):
        channel = rgb[..., c].astype(np.uint8)
        spread = ndimage.maximum_filter(channel, size=3, mode="nearest") - ndimage.minimum_filter(channel, size=3, mode="nearest")
        flat &= spread <= FLAT_TOLERANCE
    return flat


def _window_candidates(index: np.ndarray, ys: np.ndarray, xs: np.ndarray, radius: int) -> np.ndarray:
    """(N, (2r+1)²) decided palette indices around each pixel (-1 where undecided)."""
    padded = np.pad(index, radius, constant_values=-1)
    offsets = range(-radius, radius + 1)
    return np.stack([padded[ys + radius + dy, xs + radius + dx] for dy in offsets for dx in offsets], axis=1)


def to_label_map(rgba: np.ndarray, palette: list[Label], background_id: int,
                 alpha_threshold: int = ALPHA_THRESHOLD) -> np.ndarray:
    """Canvas or doodle pixels -> label ids; transparent, far-off and canvas-background pixels -> background_id.

    Decided by region: each connected area of near-equal colour (a flat region) takes the label whose colour
    is nearest to the region's mean colour, so screenshots and JPEGs a few levels off the palette keep whole
    regions. Only the pixels between regions (antialiased seams, overlaps, noise) are resolved locally, among
    the labels shown or decided around them (see _resolve_seams), so a blend of two labels never becomes a
    third. Regions and isolated pixels whose colour is more than FAR_DISTANCE from every label colour stay
    unpainted, and so does an opaque white or black canvas unless a label has that colour.
    """
    check_labels(palette)
    if not palette:
        raise ValueError("palette is empty")
    if isinstance(background_id, bool) or not isinstance(background_id, (int, np.integer)) or background_id < 0:
        raise ValueError(f"background_id must be a non-negative int, got {background_id!r}")
    array = _check_canvas(rgba)
    rgb = array[..., :3]
    painted = array[..., 3] >= alpha_threshold if array.shape[2] == 4 else np.ones(rgb.shape[:2], bool)
    colours = np.array([label.rgb for label in palette], np.float64)
    extra = [c for c in CANVAS_BACKGROUNDS if np.sqrt(((colours - c) ** 2).sum(-1)).min() >= 1]
    background = len(palette)  # palette index of "unpainted"; canvas backgrounds map there too
    targets = np.concatenate([colours, np.array(extra, np.float64).reshape(-1, 3)])
    target_index = np.concatenate([np.arange(len(palette)), np.full(len(extra), background)])
    ids = np.array([label.id for label in palette] + [int(background_id)], np.int64)

    index = np.full(painted.shape, -1, np.int64)
    index[~painted] = background
    exact = _exact_index(rgb, colours)
    regions, count = ndimage.label(_flat(rgb, painted, exact))
    if count:
        sizes = np.bincount(regions.ravel(), minlength=count + 1)[1:].astype(np.float64)
        means = np.stack([np.bincount(regions.ravel(), rgb[..., c].ravel(), count + 1)[1:] for c in range(3)], -1)
        means /= sizes[:, None]
        nearest, distance = _nearest(targets, means)
        region_label = np.where(distance <= FAR_DISTANCE, target_index[nearest], background)
        inside = regions > 0
        member = regions[inside] - 1
        spread = np.sqrt(((rgb[inside] - means[member]) ** 2).sum(-1))
        index[inside] = np.where(spread <= REGION_SPREAD, region_label[member], -1)
    if extra:  # a seam pixel of the canvas's own colour is canvas, not the region beside it
        index[(index < 0) & (_exact_index(rgb, np.array(extra, np.float64)) >= 0)] = background
    return ids[_resolve_seams(index, rgb, colours, exact, background)]


def _exact_index(rgb: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Palette index of pixels showing a palette colour exactly, else -1."""
    keys = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    palette_keys = (colours[:, 0].astype(np.int32) << 16) | (colours[:, 1].astype(np.int32) << 8) | colours[:, 2].astype(np.int32)
    order = np.argsort(palette_keys)
    position = np.minimum(np.searchsorted(palette_keys[order], keys), len(order) - 1)
    return np.where(palette_keys[order][position] == keys, order[position], -1)


def _nearest_candidate(source: np.ndarray, ys: np.ndarray, xs: np.ndarray, radius: int, rgb: np.ndarray,
                       colours: np.ndarray, background: int, chunk: int = 32768) -> np.ndarray:
    """For each pixel, the label among source's labels in its (2r+1)² window whose colour is nearest its own (-1: none)."""
    choice = np.full(len(ys), -1, np.int64)
    for start in range(0, len(ys), chunk):
        cy, cx = ys[start:start + chunk], xs[start:start + chunk]
        candidates = _window_candidates(source, cy, cx, radius)
        candidates[candidates == background] = -1
        difference = colours[np.maximum(candidates, 0)] - rgb[cy, cx].astype(np.float64)[:, None, :]
        distance = (difference * difference).sum(-1)
        distance[candidates < 0] = np.inf
        best = distance.argmin(axis=1)
        rows = np.arange(len(cy))
        choice[start:start + chunk] = np.where(np.isfinite(distance[rows, best]), candidates[rows, best], -1)
    return choice


def _resolve_seams(index: np.ndarray, rgb: np.ndarray, colours: np.ndarray, exact: np.ndarray,
                   background: int) -> np.ndarray:
    """Undecided pixels (seams, overlaps, noise) take, in this order: the nearest colour among labels shown
    exactly in their 3x3 neighbourhood; the label they show within NEAR_DISTANCE; the nearest among labels
    decided around them (twice), then within 2 and 4 pixels (labels of the NEAR_DISTANCE tier do not spread:
    JPEG noise on a seam can land near a third colour); else the nearest colour within FAR_DISTANCE."""
    exact = np.where(index == background, -1, exact)
    ys, xs = np.nonzero(index < 0)
    tiers = [("shown", 1), ("near", 0), *(("grown", 1),) * GROWTH_ROUNDS, *(("seeds", r) for r in SEED_RADII)]
    if len(ys) > MAX_SEAM_FRACTION * index.size:  # a photo or noise, not a doodle: pixel by pixel, approximately
        nearest = _nearest_binned(colours, rgb[ys, xs])
        distance = np.sqrt(((rgb[ys, xs] - colours[nearest]) ** 2).sum(-1))
        index[ys, xs] = np.where(distance <= FAR_DISTANCE, nearest, background)
        return index
    near_only = np.zeros(index.shape, bool)  # labels taken from the pixel's colour alone do not spread
    for tier, radius in tiers:
        if not len(ys):
            break
        if tier == "near":
            choice, distance = _nearest(colours, rgb[ys, xs])
            choice[distance > NEAR_DISTANCE] = -1
            near_only[ys[choice >= 0], xs[choice >= 0]] = True
        else:
            source = exact if tier == "shown" else np.where(near_only, -1, index)
            choice = _nearest_candidate(source, ys, xs, radius, rgb, colours, background)
        found = choice >= 0
        index[ys[found], xs[found]] = choice[found]
        ys, xs = ys[~found], xs[~found]
    nearest, distance = _nearest(colours, rgb[ys, xs])
    index[ys, xs] = np.where(distance <= FAR_DISTANCE, nearest, background)
    return index

