"""Untrusted XML in (defusedxml over the standard library's expat): no DTD at all, so no
entities, external or expanding, and nothing is ever fetched; plus size and depth limits."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

MAX_DEPTH = 32


class UnsafeXml(ValueError):
    """The document is not well-formed, or uses what this service refuses (DTD, entities)."""


def parse(body: bytes, max_depth: int = MAX_DEPTH) -> Element:
    try:
        root: Element = fromstring(
            body, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:
        raise UnsafeXml(
            f"refused: {type(exc).__name__} (DTDs and entities are not accepted)"
        ) from None
    except ET.ParseError as exc:
        raise UnsafeXml(f"not well-formed XML: {exc}") from None
    except LookupError as exc:  # the XML declaration names an encoding Python does not know
        raise UnsafeXml(f"not readable XML: {exc}") from None
    _check_depth(root, max_depth)
    return root


def _check_depth(root: Element, max_depth: int) -> None:
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > max_depth:
            raise UnsafeXml(f"the document is nested deeper than {max_depth} elements")
        stack.extend((child, depth + 1) for child in element)
