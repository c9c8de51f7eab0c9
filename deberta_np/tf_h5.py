"""Read a TensorFlow checkpoint (`tf_model.h5`, as transformers' TF classes save it) as a PyTorch-named state dict.

transformers' `TFDeberta*.save_pretrained` writes Keras' HDF5 weights format (tf-keras `save_weights`): the root
attribute `layer_names` lists the model's top-level layers (`deberta`, and the head's: `cls`, `pooler`,
`classifier`, `qa_outputs`); each layer's group has a `weight_names` attribute (split into `weight_names0`,
`weight_names1`, ... when it outgrows HDF5's 64 KiB attribute limit) listing its variables as
`<model scope>/<layer>/<path>/<variable>:0`, and the dataset of each variable sits at that path in the group.

The names become transformers' PyTorch names as transformers' own TF->PT conversion
(`convert_tf_weight_name_to_pt_weight_name`) makes them: the model scope dropped, `/` -> `.`, `layer_._0` ->
`layer.0`, `kernel`/`gamma`/`embeddings` -> `weight`, `beta` -> `bias`. Keras Dense kernels are [in, out] and
are transposed to PyTorch's [out, in]; the v2 ConvLayer's kernel [k, in, out] becomes Conv1d's [out, in, k].

Only HDF5 is read, through h5py: nothing in the file is executed. Datasets must be plain numbers stored in the
file itself: external storage, virtual datasets, links to other files and filtered (compressed) datasets are
refused, so that reading a checkpoint never opens another file or loads a filter plugin.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CheckpointError

__all__ = ["HDF5_MAGIC", "TF_CHECKPOINT_NAME", "pytorch_name", "read_tf_h5"]

TF_CHECKPOINT_NAME = "tf_model.h5"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
_LAST_PART = {"kernel": "weight", "gamma": "weight", "embeddings": "weight", "beta": "bias"}
# transformers' TFDebertaV2DisentangledSelfAttention keeps DeBERTa v1's variable names for the position
# projections that DebertaV2's PyTorch class calls pos_key_proj / pos_query_proj (its name-based TF<->PT
# conversion therefore cannot pair them). A layer holding `query_proj` is a v2 layer (v1 has `in_proj`).
_V2_POSITION_PROJECTIONS = {"pos_proj": "pos_key_proj", "pos_q_proj": "pos_query_proj"}
_V2_POSITION_NAME = re.compile(
    r"^(?P<scope>.*\.attention\.self\.)(?P<proj>pos_proj|pos_q_proj)\.(?P<leaf>weight|bias)$"
)


def pytorch_name(tf_name: str, ndim: int, source: str = "tf_model.h5") -> tuple[str, tuple[int, ...] | None]:
    """`deberta/encoder/layer_._0/attention/self/in_proj/kernel` (model scope already dropped, no `:0`) ->
    (`deberta.encoder.layer.0.attention.self.in_proj.weight`, the axes to transpose it by, or None)."""
    parts = tf_name.replace("_._", "/").split("/")
    if any(not part for part in parts):
        raise CheckpointError(f"{source}: dataset {tf_name!r} has an empty name component")
    axes: tuple[int, ...] | None = None
    if parts[-1] == "kernel":
        if ndim == 2:
            axes = (1, 0)  # Dense: [in, out] -> Linear: [out, in]
        elif ndim == 3:
            axes = (2, 1, 0)  # Conv1D as transformers stores it: [k, in, out] -> Conv1d: [out, in, k]
        else:
            raise CheckpointError(
                f"{source}: kernel {tf_name!r} has {ndim} dimensions; a Dense kernel has 2, a Conv1D kernel 3"
            )
    parts[-1] = _LAST_PART.get(parts[-1], parts[-1])
    return ".".join(parts), axes


def read_tf_h5(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The tensors of a Keras HDF5 weights file under transformers' PyTorch names and layouts (read-only arrays).

    Raises CheckpointError, naming the file and the dataset, for anything that is not a float dataset listed in
    a layer's `weight_names`, and for two variables that would get the same name.
    """
    path = Path(path)
    source = str(path)
    try:
        import h5py
    except ModuleNotFoundError:
        raise CheckpointError(
            f"{source}: reading a TensorFlow checkpoint needs h5py: pip install 'deberta_np[tf]' (or h5py)"
        ) from None
    try:
        file = h5py.File(path, "r")
    except OSError as error:
        raise CheckpointError(f"{source}: not a readable HDF5 file ({error})") from None
    with file:
        layer_names = _string_list(file, "layer_names")
        if layer_names is None:
            raise CheckpointError(
                f"{source}: no 'layer_names' attribute at the root: not a Keras HDF5 weights file as "
                "transformers' TF save_pretrained writes it (sharded TF checkpoints are not supported)"
            )
        state: dict[str, np.ndarray] = {}
        stored_as: dict[str, tuple[str, str]] = {}  # name -> (dataset path, variable name without its scope)
        for layer in layer_names:
            group = _member(file, file, layer, h5py, source)
            if not isinstance(group, h5py.Group):
                raise CheckpointError(f"{source}: layer {layer!r} is not a group")
            weight_names = _string_list(group, "weight_names")
            if weight_names is None:
                raise CheckpointError(f"{source}: layer group {layer!r} has no 'weight_names' attribute")
            for weight_name in weight_names:
                where = f"{layer}/{weight_name}"
                scope, _, rest = weight_name.partition("/")
                if not scope or not rest or not rest.endswith(":0"):
                    raise CheckpointError(
                        f"{source}: dataset {where!r}: expected '<model scope>/.../<variable>:0'"
                    )
                array = _read_dataset(_member(file, group, weight_name, h5py, source), where, h5py, source)
                name, axes = pytorch_name(rest[: -len(":0")], array.ndim, f"{source}: dataset {where!r}")
                if axes is not None:
                    array = np.ascontiguousarray(array.transpose(axes))
                if name in state:
                    # A tied variable is listed by every layer that uses it: the MLM head (`cls`) lists the
                    # word embeddings it shares with `deberta`. Both copies must then hold the same values.
                    first, tied = stored_as[name][0], stored_as[name][1] == rest
                    if tied and np.array_equal(state[name], array):
                        continue
                    raise CheckpointError(
                        f"{source}: datasets {first!r} and {where!r} both map to {name!r}"
                        + (" with different values" if tied else "")
                    )
                array.flags.writeable = False
                state[name], stored_as[name] = array, (where, rest)
        _check_top_level(file, h5py, source)
    return _rename_v2_position_projections(state, source)


def _string_list(node: Any, name: str) -> list[str] | None:
    """A Keras string-list attribute, joined back from `name0`, `name1`, ... when Keras had to split it."""
    if name in node.attrs:
        chunks = [node.attrs[name]]
    else:
        chunks = []
        while f"{name}{len(chunks)}" in node.attrs:
            chunks.append(node.attrs[f"{name}{len(chunks)}"])
        if not chunks:
            return None
    return [
        item.decode("utf-8") if isinstance(item, bytes) else str(item)
        for chunk in chunks
        for item in np.asarray(chunk).reshape(-1)
    ]


def _member(file: Any, group: Any, name: str, h5py: Any, source: str) -> Any:
    """`group[name]`, following hard links only: a soft or external link could lead to another file."""
    node = group
    for part in name.split("/"):
        link = node.get(part, getlink=True) if isinstance(node, h5py.Group) else None
        if link is None:
            raise CheckpointError(f"{source}: dataset {name!r} listed in the layer's weight_names is missing")
        if not isinstance(link, h5py.HardLink):
            raise CheckpointError(f"{source}: {name!r} is a {type(link).__name__}; only hard links are read")
        node = node[part]
    return node


def _read_dataset(node: Any, where: str, h5py: Any, source: str) -> np.ndarray:
    if not isinstance(node, h5py.Dataset):
        raise CheckpointError(f"{source}: {where!r} is not a dataset")
    if node.is_virtual or node.external:
        raise CheckpointError(f"{source}: dataset {where!r} stores its data in another file; not read")
    if node.id.get_create_plist().get_nfilters():
        raise CheckpointError(f"{source}: dataset {where!r} is filtered (compressed); not read")
    if node.dtype not in _FLOAT_DTYPES:
        raise CheckpointError(
            f"{source}: dataset {where!r} has dtype {node.dtype}, shape {list(node.shape)}; "
            "expected float16, float32 or float64"
        )
    return np.asarray(node[()])


def _check_top_level(file: Any, h5py: Any, source: str) -> None:
    """Keras writes an empty `top_level_model_weights` group; variables there belong to no layer we know."""
    group = file.get("top_level_model_weights", getlink=False)
    if isinstance(group, h5py.Group) and _string_list(group, "weight_names"):
        raise CheckpointError(
            f"{source}: top_level_model_weights holds variables {_string_list(group, 'weight_names')}, "
            "which no DeBERTa layer has"
        )


def _rename_v2_position_projections(state: dict[str, np.ndarray], source: str) -> dict[str, np.ndarray]:
    renamed = {}
    for stored, array in state.items():
        name = stored
        match = _V2_POSITION_NAME.match(stored)
        if match and f"{match['scope']}query_proj.weight" in state:
            name = f"{match['scope']}{_V2_POSITION_PROJECTIONS[match['proj']]}.{match['leaf']}"
        if name in renamed or (name != stored and name in state):
            raise CheckpointError(f"{source}: two variables map to {name!r}")
        renamed[name] = array
    return renamed
