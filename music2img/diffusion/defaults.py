"""The sampling settings the app, the CLI and :class:`~music2img.music_to_image.MusicToImage` use
unless told otherwise, chosen by ``benchmarks/sampling_settings.py``: UniPC at 12 steps stays
closer to a 60-step reference from the same noise than DPM-Solver++ 2M at 15 (mean pixel
difference 15.1 vs 16.2 on 0–255; DPM-Solver++ at 25, the former default, 9.0) with the same
detail, and guiding only the first half of the steps leaves that difference unchanged (DPM-Solver++
12: 19.5 either way) while the unguided half costs one forward instead of two: 18 UNet forwards per
picture against the former default's 50. Guiding only the second half, or none, moves the
pictures much further (25.5, 25.9)."""

SCHEDULER = "unipc"
STEPS = 12
GUIDANCE_SCALE = 3.0
#: The part of the steps that is guided (see ``EmotionLandscapePipeline.__call__``).
GUIDANCE_INTERVAL = (0.0, 0.5)
#: When the landscape checker may redraw, the estimate of the finished picture is checked after this
#: fraction of the steps too (at least two), and a batch it rejects entirely is painted again at once.
#: ``benchmarks/early_check.py`` (5 × 5 grid × 4 seeds at the defaults): after 2 of 12 steps the estimate
#: flags every picture rejected when finished and none of those accepted on the shipped model (90 % and
#: 1 % on the v1-conditioned one), so a rejected picture costs 4 UNet forwards instead of 18 (19.0 instead
#: of 22.5 forwards per picture).
EARLY_CHECK = 1 / 6
