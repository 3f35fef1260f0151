from aac.text import normalize_caption


def test_normalisation_lowercases_and_strips_punctuation():
    assert (
        normalize_caption("A Siren wails, then -- a car drives past!")
        == "a siren wails then a car drives past"
    )
    assert normalize_caption('  The dog\'s bark;\t"loud" (very)  ') == "the dogs bark loud very"
    assert normalize_caption("Café_noise") == "café noise"
    assert normalize_caption("...") == ""
