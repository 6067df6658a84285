"""Music under the voice: a sound file (anything libsndfile reads: WAV, FLAC, OGG, MP3)
decoded as it plays, mixed down to mono, resampled to the session's rate, looped or played
once, faded in and out, and turned down under every cue (docs/routines.md, "Music").

A file a job, imports running one way, down this list (tests/test_layout.py checks it):

- ``bed.py``: the music as a render hears it (``Bed``): looped with crossfades, faded,
  ducked under the cues (``Ducking``); ``prepare`` fills the cache ahead of time.
- ``cache.py``: the cache of decoded music (``default_cache_dir``): its format, reading an
  entry, writing one, keeping the folder to its size.
- ``schema.py``: the ``music:`` value of a routine or config.yaml (``from_yaml``): its file,
  level, duck and loop checked; ``gain_db`` reads a level.
- ``source.py``: reading a music file: its header checked (``music_info``), the resampler
  (``_Resampled``) and the threads that decode ahead of a render (``_Decoder``).

Memory stays flat however long the music or the session: a ``Bed`` has the file decoded a
few chunks ahead of the render (``_Decoder``: threads side by side, one a core, so decoding
overlaps mixing and encoding) and lets each chunk go once it is read past; only a short
looped file (at most ``KEEP_SECONDS``, 16 MB at 22050 Hz) is kept whole after it is decoded
once, so that its later laps cost no decoding. Where a loop starts again, the file's last
``CROSSFADE`` seconds overlap its first (equal-power), so the seam is not heard.

Decoding and resampling cost far more than the rest of a render, so what a render decodes
from the file's start is also written to the cache folder (``default_cache_dir``), at the
session's rate, and later renders of the same file read it back (cache.py; ``prepare``
fills it ahead of time). The samples are the same either way.

Ducking: the renderer knows exactly where every speech clip and tone sounds, so the
sidechain is the timeline itself and it looks ahead. The music starts down ``ATTACK``
seconds before a cue and is fully ``duck_db`` lower when the cue begins; it stays down while
the cue sounds and comes back over ``RELEASE`` seconds after it ends. Cues less than
``HOLD`` apart count as one, so the music stays down under a countdown or a run of words
instead of pumping. Both ramps are raised cosines in dB. The gain at a sample depends only
on the cues and the sample, never on block boundaries: live play and export sound alike.

The package is imported only where a session has music, so the commands without it start
without it. Below are the names the rest of holdcue and its tests use; each is defined in
one of the files above, and a test that patches one patches it in the file that reads it
(``music.bed.KEEP_SECONDS``): a name here is a second reference to it, which that file
does not read.
"""

from holdcue.errors import MusicError
from holdcue.music.bed import ATTACK, CROSSFADE, RELEASE, RESUME_FADE, Bed, prepare
from holdcue.music.cache import default_cache_dir
from holdcue.music.schema import from_yaml, gain_db
from holdcue.music.source import AHEAD, READ_STEP, _Decoder, _Resampled, music_info, resampled_length

__all__ = [
    "AHEAD",
    "ATTACK",
    "CROSSFADE",
    "READ_STEP",
    "RELEASE",
    "RESUME_FADE",
    "Bed",
    "MusicError",
    "_Decoder",
    "_Resampled",
    "default_cache_dir",
    "from_yaml",
    "gain_db",
    "music_info",
    "prepare",
    "resampled_length",
]
