"""Where a JSON pointer is in a YAML text: line and column for lint output (pure).

The text has already passed the hostile-input checks of yamlsafe (size, depth, aliases), so
composing it again is cheap and safe.
"""

from __future__ import annotations

from functools import lru_cache

import yaml

from .refs import split_pointer


@lru_cache(maxsize=64)
def _compose(text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None


def locate(text: str, pointer: str) -> tuple[int, int] | None:
    """1-based (line, column) of the deepest node on `pointer` that exists in the text: a key
    for a missing member points at its parent, which is where the fix goes."""
    node = _compose(text)
    if node is None:
        return None
    mark = node.start_mark
    for part in split_pointer(pointer):
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == part:
                    mark, node = key.start_mark, value
                    break
            else:
                break
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            mark = node.start_mark
        else:
            break
    return mark.line + 1, mark.column + 1
