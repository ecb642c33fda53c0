"""FakeSource applies RFC 6902 JSON patches with ingot.apiserver's rules."""

import pytest

from ingot import errors
from ingot.kube import source as src


def test_json_patch_applies_and_bad_ops_are_422() -> None:
    fs = src.FakeSource()
    fs.create(src.CONFIG_MAP, {"metadata": {"name": "c"}, "data": {"a": "1"}}, namespace="n")
    out = fs.patch(
        src.CONFIG_MAP,
        "c",
        [{"op": "replace", "path": "/data/a", "value": "2"}],
        namespace="n",
        patch_type="json",
    )
    assert out["data"] == {"a": "2"}
    with pytest.raises(errors.KubeError) as exc:
        fs.patch(
            src.CONFIG_MAP,
            "c",
            [{"op": "test", "path": "/data/a", "value": "9"}],
            namespace="n",
            patch_type="json",
        )
    assert exc.value.status == 422
    assert fs.get(src.CONFIG_MAP, "c", namespace="n")["data"] == {"a": "2"}
