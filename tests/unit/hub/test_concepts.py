from __future__ import annotations

import copy
import json

import pytest

from ganpaint_core.core.errors import ConceptDictionaryError
from ganpaint_core.hub.concepts import ConceptDictionary, from_gandissect
from tests.helpers import REPO, SHARED

CHURCH_CONCEPTS = REPO / "weights" / "progan-church" / "concepts.json"
REFERENCE = SHARED / "reference" / "progan-churchoutdoor"


def test_bundled_church_dictionary_has_ganpaints_brushes():
    d = ConceptDictionary.load(CHURCH_CONCEPTS)
    assert d.layer == "layer4" and d.num_units == 512 and len(d.levels) == 512
    for concept in ("tree", "grass", "door", "sky", "cloud", "brick", "dome"):
        assert len(d.top_units(concept, 15)) == 15
    assert d.concepts["tree"].metric == "ace" and d.concepts["dome"].metric == "iou"


def test_bundled_church_dictionary_is_the_reference_data_converted():
    if not REFERENCE.is_dir():
        pytest.skip(f"reference data not found at {REFERENCE}")
    rebuilt = from_gandissect(
        json.loads((REFERENCE / "rankings_demo_iou_short.json").read_text()),
        json.loads((REFERENCE / "levels_demo.json").read_text()),
    )
    shipped = ConceptDictionary.load(CHURCH_CONCEPTS)
    assert rebuilt.levels == shipped.levels
    assert {k: v.units for k, v in rebuilt.concepts.items()} == {k: v.units for k, v in shipped.concepts.items()}
    # GANPaint's own rearrangement of the same figures agrees on the brush rankings.
    ref = json.loads((REFERENCE / "church_layer4_concepts.json").read_text())["concepts"]
    for recipe in ("tree-ace", "grass-ace", "door-ace", "sky-iou", "cloud-iou", "brick-iou", "dome-iou"):
        assert list(shipped.top_units(recipe.split("-")[0], 40)) == ref[recipe]["ranked_units"][:40]


@pytest.fixture
def data() -> dict:
    return json.loads(CHURCH_CONCEPTS.read_text())


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["levels"].pop(), "one level per unit"),
        (lambda d: d["concepts"]["tree"]["units"].__setitem__(0, 512), "out of range"),
        (lambda d: d["concepts"]["tree"]["units"].__setitem__(1, d["concepts"]["tree"]["units"][0]), "listed twice"),
        (lambda d: d["concepts"]["tree"]["scores"].pop(), "equal length"),
        (lambda d: d["levels"].__setitem__(3, float("nan")), "finite"),
        (lambda d: d.pop("layer"), "missing key 'layer'"),
    ],
)
def test_invalid_dictionaries_are_refused(data, change, message):
    bad = copy.deepcopy(data)
    change(bad)
    with pytest.raises(ConceptDictionaryError, match=message):
        ConceptDictionary.from_json(bad)


def test_unknown_concept_lists_the_known_ones():
    d = ConceptDictionary.load(CHURCH_CONCEPTS)
    with pytest.raises(ConceptDictionaryError, match="knows: .*dome"):
        d.top_units("unicorn", 4)


def test_dictionary_for_another_layer_is_refused():
    d = ConceptDictionary.load(CHURCH_CONCEPTS)
    with pytest.raises(ConceptDictionaryError, match="re-run dissection"):
        d.check_layer("layer6", 512)


def test_a_removal_ranking_serves_remove_strokes_and_survives_a_round_trip(data, tmp_path):
    with_removal = copy.deepcopy(data)
    with_removal["concepts"]["tree"]["remove"] = {"metric": "ace-remove", "units": [7, 3, 500],
                                                  "scores": [0.9, 0.8, 0.1]}
    d = ConceptDictionary.from_json(with_removal)
    assert d.top_units("tree", 2, "remove") == [7, 3]
    assert d.top_units("tree", 2) == d.top_units("tree", 2, "add") != [7, 3]
    assert d.top_units("dome", 3, "remove") == d.top_units("dome", 3)  # no removal ranking: the main one
    d.save(tmp_path / "c.json")
    assert ConceptDictionary.load(tmp_path / "c.json") == d
    with_removal["concepts"]["tree"]["remove"]["units"][2] = 512
    with pytest.raises(ConceptDictionaryError, match="'remove' ranking: unit ids out of range"):
        ConceptDictionary.from_json(with_removal)


def test_a_template_survives_a_round_trip_and_a_malformed_one_is_refused(data, tmp_path):
    with_template = copy.deepcopy(data)
    values = [float(i % 7) for i in range(512 * 2 * 2)]
    with_template["concepts"]["dome"]["template"] = {"size": 2, "values": values}
    d = ConceptDictionary.from_json(with_template)
    t = d.template("dome")
    assert t.shape == (512, 2, 2) and t[0, 0, 1] == 1.0 and t[1, 0, 0] == 4.0  # [units, size, size], C order
    assert d.template("tree") is None  # only concepts that carry one
    d.save(tmp_path / "c.json")
    assert ConceptDictionary.load(tmp_path / "c.json") == d
    for change, message in ((lambda t: t["values"].pop(), "512 × 2 × 2"), (lambda t: t.pop("size"), "'size'"),
                            (lambda t: t["values"].__setitem__(5, float("inf")), "finite")):
        bad = copy.deepcopy(with_template)
        change(bad["concepts"]["dome"]["template"])
        with pytest.raises(ConceptDictionaryError, match=message):
            ConceptDictionary.from_json(bad)


# -- a derived dictionary proves its content ----------------------------------------------------------------
def _swap_two_units(path):
    """The file's first concept ranking with two units swapped: valid JSON, a valid dictionary, other edits."""
    data = json.loads(path.read_text())
    units = next(iter(data["concepts"].values()))["units"]
    units[0], units[1] = units[1], units[0]
    path.write_text(json.dumps(data, indent=1))


def test_a_saved_dictionary_carries_its_checksum_and_a_changed_unit_is_found(tmp_path):
    from ganpaint_core.core.files import DIGEST_KEY, DamagedFileError

    d = ConceptDictionary.load(CHURCH_CONCEPTS)
    path = tmp_path / "concepts.json"
    d.save(path)
    assert DIGEST_KEY in json.loads(path.read_text())
    assert ConceptDictionary.read(path) == (d, True)
    _swap_two_units(path)
    with pytest.raises(DamagedFileError, match="does not match its sha256"):
        ConceptDictionary.load(path)
    assert ConceptDictionary.read(CHURCH_CONCEPTS)[1] is False  # a shipped file: its sha256 is in its manifest


def test_a_damaged_derived_dictionary_is_logged_once_removed_and_never_used(tmp_path, caplog):
    from ganpaint_core.hub.derived import read_derived_concepts

    d = ConceptDictionary.load(CHURCH_CONCEPTS)
    path = tmp_path / "concepts.json"
    d.save(path)
    assert read_derived_concepts(path, model_name="m") == d
    _swap_two_units(path)
    assert read_derived_concepts(path, model_name="m") is None
    assert not path.exists() and caplog.text.count("does not match its sha256") == 1


def test_a_derived_dictionary_made_before_checksums_gets_one_on_first_read(tmp_path):
    from ganpaint_core.core.files import DIGEST_KEY
    from ganpaint_core.hub.derived import read_derived_concepts

    path = tmp_path / "concepts.json"
    path.write_text(CHURCH_CONCEPTS.read_text())
    d = read_derived_concepts(path, model_name="m")
    assert d == ConceptDictionary.load(CHURCH_CONCEPTS) and DIGEST_KEY in json.loads(path.read_text())
    assert ConceptDictionary.read(path) == (d, True)
