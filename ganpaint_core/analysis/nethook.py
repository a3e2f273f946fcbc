"""Analysis utility: read or replace the output of named layers through context-managed forward hooks.

Example::

    with TraceDict(G, ["layer4", "layer6"]) as traces:
        G(z)
    traces["layer6"].output                      # [N, C, H, W], for plots, probes and notebooks

Layers are addressed by dotted module names (``"layer4"``, ``"tail.layer5"``). Hooks are removed
when the ``with`` block exits, also when it exits with an exception.

No product code path uses this module, on purpose: a hook is installed on the module itself, so while the
block runs every caller of that generator sees it, and the app's generator is shared by every session.
Edits and adaptation go through ``tail.run(features, latent=…, modify=…)`` (see
:mod:`ganpaint_core.models.layers`), which changes one call's outputs only. Use this module to look inside a
generator of your own (research, tests, debugging), not to edit a shared one.
"""
from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

EditFn = Callable[..., torch.Tensor]


def get_module(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name``; a clear error listing valid names otherwise."""
    for n, m in model.named_modules():
        if n == name:
            return m
    children = [n for n, _ in model.named_children()]
    raise KeyError(f"no layer named {name!r}; top-level layers are: {', '.join(children)}")


class Trace(contextlib.AbstractContextManager):
    """Retain and/or edit the output of one layer while the block runs.

    Example::

        with Trace(G, "layer4") as t:
            G(z)
        features = t.output                                    # [N, C, H, W]

        with Trace(G, "layer4", edit_output=lambda out, layer: out * mask):
            edited = G(z)

    ``edit_output(output, layer_name)`` returns the tensor that replaces the layer's output.
    """

    def __init__(
        self,
        model: nn.Module,
        layer: str,
        *,
        retain_output: bool = True,
        detach: bool = False,
        edit_output: EditFn | None = None,
    ) -> None:
        self.layer = layer
        self.output: torch.Tensor | None = None
        module = get_module(model, layer)

        def hook(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> torch.Tensor:
            if edit_output is not None:
                output = edit_output(output, layer)
            if retain_output:
                self.output = output.detach() if detach else output
            return output

        self._handle = module.register_forward_hook(hook)

    def close(self) -> None:
        self._handle.remove()

    def __exit__(self, *exc: object) -> None:
        self.close()


class TraceDict(OrderedDict, contextlib.AbstractContextManager):
    """Several ``Trace``s at once, keyed by layer name.

    Example::

        with TraceDict(G, ["layer4", "layer6"]) as td:
            G(z)
        td["layer6"].output
    """

    def __init__(
        self,
        model: nn.Module,
        layers: Iterable[str],
        *,
        retain_output: bool = True,
        detach: bool = False,
        edit_output: EditFn | None = None,
    ) -> None:
        super().__init__()
        try:
            for layer in layers:
                self[layer] = Trace(
                    model, layer, retain_output=retain_output, detach=detach, edit_output=edit_output
                )
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for trace in self.values():
            trace.close()

    def __exit__(self, *exc: object) -> None:
        self.close()
