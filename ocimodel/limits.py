"""The caps on what ocimodel reads from files and registries it does not control.

A file or a registry may be written by an attacker; these caps keep every read bounded in memory
and time whatever it holds. Each has a default, an environment variable that changes it for the
process (and so for the command line), and may be set in code with :func:`use`:

======================  ==========================  ========  ===================================
cap                     variable                    default   what it bounds
======================  ==========================  ========  ===================================
``document``            ``OCIMODEL_DOCUMENT_LIMIT``  4 MiB     bytes of a document read whole from
                                                              a file: a manifest, an index
                                                              (``index.json``), a config, docker's
                                                              ``manifest.json``, ``config.json``
``json_depth``          ``OCIMODEL_JSON_DEPTH``      64        arrays and objects nested in a JSON
                                                              document (files and registries)
``index_depth``         ``OCIMODEL_INDEX_DEPTH``     16        indexes on a path from the top index
                                                              to an image, the top one included
======================  ==========================  ========  ===================================

A document with a descriptor is read with the descriptor's size as its limit as well; one above
either is refused before it is read (:class:`~ocimodel.errors.DocumentTooLarge`, or its subclass
:class:`~ocimodel.errors.ManifestTooLarge`). JSON nested deeper than ``json_depth`` is a
:class:`~ocimodel.errors.BadJSONError`, and an index deeper than ``index_depth`` an
:class:`~ocimodel.errors.IndexTooDeep`. Manifests fetched from a registry have their own cap,
``manifest_limit`` of :class:`ocimodel.transport.Client` and of every :mod:`ocimodel.remote`
function (4 MiB too), beside ``config_limit``, ``token_limit``, ``error_limit``, ``list_limit``
and ``blob_limit`` (:class:`ocimodel.remote.SessionOptions`).

>>> from ocimodel import limits
>>> limits.current().document
4194304
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import attrs

from ocimodel.errors import OCIError

__all__ = [
    "DOCUMENT_VARIABLE",
    "INDEX_DEPTH_VARIABLE",
    "JSON_DEPTH_VARIABLE",
    "VARIABLES",
    "Limits",
    "current",
    "use",
]

DOCUMENT_VARIABLE = "OCIMODEL_DOCUMENT_LIMIT"
JSON_DEPTH_VARIABLE = "OCIMODEL_JSON_DEPTH"
INDEX_DEPTH_VARIABLE = "OCIMODEL_INDEX_DEPTH"
#: Each cap's variable, by the name of its field.
VARIABLES = {"document": DOCUMENT_VARIABLE, "json_depth": JSON_DEPTH_VARIABLE, "index_depth": INDEX_DEPTH_VARIABLE}


def _positive(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{attribute.name} must be a positive integer, got {value!r}")


@attrs.frozen
class Limits:
    """The caps (see the module's table)."""

    #: Bytes of a JSON document read whole from a file.
    document: int = attrs.field(default=4 << 20, validator=_positive)
    #: Arrays and objects nested in a JSON document.
    json_depth: int = attrs.field(default=64, validator=_positive)
    #: Indexes on a path from the top index to an image, the top one included.
    index_depth: int = attrs.field(default=16, validator=_positive)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """The defaults, changed by those of the variables that are set.

        :raises ~ocimodel.errors.OCIError: a variable that is not a positive integer (the message
            names it and its value).
        """
        environ = os.environ if environ is None else environ
        given = {}
        for field, variable in VARIABLES.items():
            text = environ.get(variable, "").strip()
            if not text:
                continue
            try:
                given[field] = int(text)
                if given[field] < 1:
                    raise ValueError(text)
            except ValueError:
                raise OCIError(f"{variable} must be a positive integer, got {text!r}") from None
        return cls(**given)


_chosen: Limits | None = None


def current() -> Limits:
    """The caps in force: those given to :func:`use`, else the environment's, else the defaults."""
    return _chosen if _chosen is not None else Limits.from_environment()


def use(limits: Limits | None) -> None:
    """Put ``limits`` in force for the whole process (every thread); ``None`` goes back to the
    environment's."""
    global _chosen
    _chosen = limits
