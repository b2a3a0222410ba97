// MiniTokenize: see MiniTokenize.docc for the module overview.
