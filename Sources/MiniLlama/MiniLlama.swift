// MiniLlama: see MiniLlama.docc for the module overview.
