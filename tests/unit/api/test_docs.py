"""docs/configuration.md is generated from the models and must be up to date."""

from __future__ import annotations

from pathlib import Path

from ingot.api import crdgen, docgen

DOC = Path(__file__).parents[3] / "docs" / "configuration.md"


def test_configuration_reference_is_up_to_date() -> None:
    """Regenerate with ``python -m ingot.api.docgen`` when this fails."""
    assert DOC.read_text() == docgen.render()


def test_reference_documents_every_kind_and_spec_field() -> None:
    text = docgen.render()
    for kind in crdgen.KINDS:
        assert f"## {kind.kind}\n" in text
        for version in crdgen.crd(kind)["spec"]["versions"]:
            spec = version["schema"]["openAPIV3Schema"]["properties"].get("spec", {})
            for field in spec.get("properties", {}):
                assert f"`spec.{field}`" in text, (kind.kind, field)


def test_unsupported_bgp_fields_are_listed_as_differences() -> None:
    text = docgen.render()
    for field in ("vrf", "interface", "dynamicASN", "localASN", "connectTime", "echoMode"):
        assert f"`{field}" in text.split("## Deliberate differences from MetalLB")[1]
