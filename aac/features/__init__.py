"""HDF5 feature cache (see docs/design.md): writer (atomic, resumable), streaming reader, merge.

from aac.features import FeatureWriter, FeatureReader
reader = FeatureReader("dump/feats/beats_1a2b3c4d/clotho_development/feats.h5")
feats = reader["clip_id"]  # np.ndarray (frames, dim)
"""

from aac.features.cache import FeatureCacheError, FeatureReader, FeatureWriter
from aac.features.merge import merge_feature_files

__all__ = ["FeatureWriter", "FeatureReader", "FeatureCacheError", "merge_feature_files"]
