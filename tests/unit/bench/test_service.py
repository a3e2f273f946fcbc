"""``bench --suite service``: its crafted inputs are what they claim."""
from __future__ import annotations

import pytest

from ganpaint_core.bench import service as B
from ganpaint_core.core.photo import PhotoError, load_photo


def test_the_crafted_bad_photos_are_refused_by_the_photo_loader_before_decoding():
    with pytest.raises(PhotoError, match="too large"):
        load_photo(B.png_header_only(20000, 20000), size=64)
    with pytest.raises(PhotoError, match="42.0 MP, over the 40 MP limit"):
        load_photo(B.png_header_only(7500, 5600), size=64)
    assert load_photo(B._noise_photo(1), size=64).size == (256, 192)
