// MiniAutograd: see MiniAutograd.docc for the module overview.
