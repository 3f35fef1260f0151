# Corpus roots (each overridable by an environment variable of the same name).
# CLOTHO holds CLOTHO_v2.1/ and AUDIOCAPS holds AUDIOCAPS/, as aac-datasets lays them out.
# An empty or missing root is downloaded by stage 1 when run with --local_data_opts "--download true".
CLOTHO=${CLOTHO:-downloads}
AUDIOCAPS=${AUDIOCAPS:-downloads}
export CLOTHO AUDIOCAPS
