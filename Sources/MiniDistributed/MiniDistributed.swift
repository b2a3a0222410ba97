// MiniDistributed: see MiniDistributed.docc for the module overview.
