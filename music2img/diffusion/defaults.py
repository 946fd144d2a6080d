"""The sampling settings the app, the CLI and :class:`~music2img.music_to_image.MusicToImage` use
unless told otherwise, chosen by ``benchmarks/sampling_settings.py`` (quality against a
high-step reference) and its speed table."""

SCHEDULER = "dpm"
STEPS = 25
GUIDANCE_SCALE = 3.0
#: The part of the steps that is guided (see ``EmotionLandscapePipeline.__call__``).
GUIDANCE_INTERVAL = (0.0, 1.0)
