// MiniTrain: see MiniTrain.docc for the module overview.
