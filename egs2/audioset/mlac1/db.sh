# AudioSet root (overridable by the environment variable of the same name): the official
# label CSVs and the audio you downloaded (nothing is downloaded by this recipe).
AUDIOSET=${AUDIOSET:-downloads/audioset}
export AUDIOSET
