"""The exceptions deberta_np raises. Each subclasses the builtin a caller would expect to catch."""


class CheckpointError(ValueError):
    """A checkpoint file or directory that cannot be read safely and exactly (names file, key and problem)."""


class UnsafeCheckpointError(CheckpointError):
    """A pickle that asks for something a state dict never needs (a global outside the allowlist, ...)."""


class ConfigError(ValueError):
    """An invalid configuration value (the message names the field)."""


class InputError(ValueError):
    """Model inputs of the wrong shape, dtype or range (the message names the argument and the limit)."""


class BackendError(RuntimeError):
    """A requested device or dtype that this machine or backend cannot provide."""


class TokenizerError(ValueError):
    """A tokenizer file (vocab, merges, spm.model, tokenizer.json, ...) that cannot be read exactly (names the file and
    the field)."""
