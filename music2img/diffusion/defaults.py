"""The sampling settings the app, the CLI and :class:`~music2img.music_to_image.MusicToImage` use
unless told otherwise, chosen by ``benchmarks/sampling_settings.py``: UniPC at 12 steps stays
closer to a 60-step reference from the same noise than DPM-Solver++ 2M at 15 (mean pixel
difference 15.1 vs 16.2 on 0–255; DPM-Solver++ at 25, the former default, 9.0) with the same
detail, and guiding only the first half of the steps leaves that difference unchanged (DPM-Solver++
12: 19.5 either way) while the unguided half costs one forward instead of two: 18 UNet forwards per
picture against the former default's 50. Guiding only the second half, or none, moves the
pictures much further (25.5, 25.9).

The guidance scale was then chosen for emotion by ``benchmarks/diffusion_quality.py`` (5 × 5 grid × 4
seeds, the app's redraw, rated by image emotion models v3 / v2; the shipped weights): Spearman of
requested vs rated valence and arousal, detail (photos: 1) and Fréchet distance on features:

=====  ===============  ===============  ======  ===
scale  valence          arousal          detail  FD
=====  ===============  ===============  ======  ===
3      0.76 / 0.66      0.62 / 0.66      0.61    233
6      0.82 / 0.78      0.78 / 0.74      0.63    225
9      0.87 / 0.84      0.83 / 0.81      0.74    241
=====  ===============  ===============  ======  ===

At 9 the pictures follow the request most closely, with the detail and feature distance the previous
weights had at guidance 3 (0.74, 247); 4 % of the returned pictures are non-landscapes instead of 1 %.
Guiding every step instead of the first half gained 0.01–0.05 on the previous weights for a third
more time. The weights shipped since (the average of that fine-tune and a GPU re-train) measure the
same way at 6 and 9: valence 0.81 / 0.75 and 0.88 / 0.82, arousal 0.86 / 0.81 and 0.90 / 0.85; 9 stays."""

from .guidance import AdaptiveProjection

SCHEDULER = "unipc"
STEPS = 12
GUIDANCE_SCALE = 9.0
#: The part of the steps that is guided (see ``EmotionLandscapePipeline.__call__``).
GUIDANCE_INTERVAL = (0.0, 0.5)
#: When the checkers may redraw, the estimate of the finished picture is checked after this fraction of the steps
#: too (at least two) — by the landscape checker, and by the scene checker against its ``early_threshold`` — and a
#: batch they reject entirely is painted again at once.
#: ``benchmarks/early_check.py`` (5 × 5 grid × 4 seeds at the defaults): after 2 of 12 steps the estimate
#: flags every picture rejected when finished and none of those accepted on the shipped model (90 % and
#: 1 % on the v1-conditioned one), so a rejected picture costs 4 UNet forwards instead of 18 (19.0 instead
#: of 22.5 forwards per picture). ``--check scene`` over the sad, calm quarter (162 draws, 83 % rejected when
#: finished): the scene checker's ``early_threshold`` 0.1 stops 53 % of the rejected and none of the accepted.
EARLY_CHECK = 1 / 6
#: Times a picture the landscape or scene checker rejects is painted again (the pipeline's ``max_redraws``). With
#: the scene checker refitted on the pictures it had erred on and its threshold raised to 0.8 (2026-12-06; fresh
#: seeds 48–71, the Q2 and Q3 cells, blind by eye): scenes in the sad, tense corner (Q2) 80 → 94 %, in the sad,
#: calm one (Q3) 53 → 82 %, against the check before (threshold 0.5, 3 redraws). More redraws let the stricter
#: check find a scene where it passes few first draws; the diffusion model card, "A stricter scene check". Since the
#: layout prior (the layouts' weights) the threshold is 0.9: Q3 65 → 81 %, Q2 78 → 94 % by a stricter eye on fresh
#: seeds (the model card, "A layout prior, and the check at 0.9"). Refitted with the happy quarters' returned
#: pictures, where it had passed cloud masses and smears: scenes in the happy, tense corner (Q1) 83 → 94 % by eye on
#: fresh seeds ("The happy, tense quarter"). Refitted with all four quarters' pictures labelled by a stricter eye, where
#: it had passed bands of sunset colour, then with its own returns: the happy, calm corner (Q4) 71 → 84 % on seeds
#: 216–239; on 252–275 Q1 / Q2 / Q3 / Q4 82 / 82 / 71 / 92 → 86 / 89 / 77 / 94 %; 1.34× the time over the plane
#: ("The scene check learns the bands"); pooled over the fresh seed sets 252–371, 91 / 89 / 85 / 92 % by the
#: strictest eye, 98 / 95 / 92 / 98 % by the majority of three raters ("Three raters"). 15 redraws instead of 7 left
#: the sad, calm corner at 89 → 91 of 96 for 1.5× its redraws ("More seeds counted").
MAX_REDRAWS = 7
#: Guidance rescale φ (0: off) and adaptive projected guidance settings (``None``: plain guidance); see
#: :mod:`music2img.diffusion.guidance`. Both were measured against guidance 9's over-saturated colours
#: (``benchmarks/picture_quality.py``, 5 × 5 grid × 2 seeds, clipped x̂₀): rescale 0.7 coloured *more*
#: (saturated pixels 1.7× the photos' share instead of 1.6×); APG with η = 0 lost the emotion (Spearman
#: valence 0.20–0.36 instead of 0.91; with η = 0.5, 0.73), since here much of the emotion lies along the
#: conditional prediction. Neither is on by default; the colour is mended by starting from scene layouts
#: (:data:`LAYOUT_STRENGTH`) with x̂₀ clipped (:data:`music2img.diffusion.schedulers.THRESHOLD`).
GUIDANCE_RESCALE = 0.0
GUIDANCE_PROJECTION: AdaptiveProjection | None = None
#: σ in pixels of the Gaussian low-pass the guidance goes through (0: plain guidance; see
#: :mod:`music2img.diffusion.guidance`), on the pictures of valence below :data:`GUIDANCE_LOWPASS_VALENCE`: fully at 3.5
#: and below, not at 5 and above, blended between (the valence the UNet is conditioned on; the pipeline's
#: ``guidance_lowpass_valence=None``: every picture). There, strong guidance paints walls of tree trunks and rock
#: smears. Against plain guidance (``benchmarks/picture_quality.py``, 5 × 5 grid × seeds 12–23): scenes in the sad, calm
#: corner (Q3) 6 → 42 % and in the sad, tense one (Q2) 65 → 79 % by the pictures' scene model (by eye 4 → 26 and 26 → 30
#: of 48), emotion control within 0.03 (valence 0.86 / 0.82 → 0.86 / 0.81, arousal 0.91 / 0.88 → 0.88 / 0.86 by image
#: models v3 / v2), but softer pictures there (detail 0.39 → 0.26 of the photos', Fréchet distance on features 68 → 82).
#: On every picture: Q3 42 %, valence 0.83 / 0.79, arousal 0.83 / 0.83.
GUIDANCE_LOWPASS = 16.0
GUIDANCE_LOWPASS_VALENCE: tuple[float, float] = (3.5, 5.0)
#: Side in pixels of the pictures the CLI and the app deliver, and the sides ``generate --size`` offers: the
#: UNet paints 128; larger ones are painted by the pipeline's upscaler network (``benchmarks/upscaler.py``).
SIZE = 512
SIZES = (128, 256, 512)
#: Share of the steps painted over a scene photo's colour layout when the pipeline has ``layouts``
#: (:mod:`music2img.diffusion.scene_layouts`): 11 of UniPC's 12 steps, the first skipped. Against painting from
#: noise (``benchmarks/picture_quality.py``, 5 × 5 grid × 12 seeds; x̂₀ clipped at 1 over the layouts, dynamically
#: thresholded from noise): Fréchet distance on features 254 → 63, saturated pixels 1.22 → 1.15× the photos',
#: colourfulness 1.37 → 1.22×, clipped 0.86 → 0.79×, detail 0.55 → 0.49, emotion control the same (valence
#: 0.87 / 0.81 → 0.86 / 0.83 by image models v3 / v2). Starting at step 2 paints softer pictures (detail 0.16
#: with 8 × 8 layouts) and follows valence less.
LAYOUT_STRENGTH = 11 / 12
#: Colour ceiling of a picture painted over a layout, as a multiple of the colourfulness expected of the layouts
#: drawn for its emotion (:mod:`music2img.diffusion.colour`; ``None``: the colour as painted). Guidance 9 paints the
#: happy half and the centre about 1.5× as colourful as the photos of the same emotion, mostly in bright, vivid
#: pixels. ``benchmarks/picture_quality.py`` (5 × 5 grid, fresh seeds 120–131; ceilings 1.0 and 1.1 applied to the
#: cached pictures of the uncapped run), uncapped / 1.2 / **1.1** / 1.0: colourfulness 1.46 / 1.25 / **1.15** / 1.10×
#: the photos', Fréchet distance on features 85 / 77 / **77** / 77, emotion control within 0.01 (valence 0.841 /
#: 0.825 → 0.838 / 0.830 at 1.1 by image models v3 / v2, arousal 0.890 / 0.874 → 0.887 / 0.875). The shares of
#: saturated and clipped pixels fall (0.87 and 0.61 → 0.26 and 0.22× the photos' at 1.1): the photos' lie mostly in
#: deep shadows, which the pictures lack; the pictures' own lay in bright, vivid colours (the diffusion model card,
#: "A colour ceiling"). With the scene check refitted on the happy quarters (its redraws replace cloud masses with
#: colourful scenes), the pictures of seeds 120–131 rose to 1.28× the photos' colourfulness. With the lower black
#: point after it (:data:`BLACK_POINT_DROP`, whose stretch raises the colour by its contrast gain), seeds 168–179,
#: 1.1 / **1.0**: colourfulness 1.23 / **1.13**× the photos', Fréchet distance on features 76.3 / 75.5, valence
#: 0.860 / 0.856 by image model v3, 0.842 / 0.841 by v2. With the layouts' label factors (grey hazes and seas drawn
#: less, which raises the layouts' expected colourfulness), seeds 444–455, 1.0 / **0.95** / 0.9: colourfulness 1.26 /
#: **1.20** / 1.15× the photos', saturated 0.83 / 0.79 / 0.75×, Fréchet distance on features 78.0 / 77.6 / 77.4,
#: valence 0.824 / 0.820 / 0.816 by v3 (``benchmarks/colour_tone.py``). Through the pipeline, fresh seeds 456–467,
#: 1.0 / **0.95**: colourfulness 1.27 / **1.22**×, saturated 0.86 / 0.81×, clipped 0.78 / 0.77×, Fréchet distance on
#: features 78.5 / 77.9, control within 0.003.
COLOUR_CEILING: float | None = 0.95
#: Layout strength of the pictures in the sad half of the plane (the pipeline's ``sad_layout_strength``): at
#: valence :data:`SAD_VALENCE` ``[0]`` and below, blended to :data:`LAYOUT_STRENGTH` by ``[1]``: 9 of the 12 steps
#: painted over the layout. There the model paints trunks and rock over a scene's layout: at (2, 3.5) 4 % of the
#: first draws passed the scene check at 11 / 12, 12 % at 9 / 12 (the other Q3 cells 17–25 → 21–42 %). Blind, by eye,
#: fresh seeds 120–143 (``benchmarks/scene_sheets.py``): scenes in the sad, calm corner (Q3) 78 → 90 %, in the sad,
#: tense one (Q2) 91 → 94 %, the sad cells' pictures in about half the time. Over the plane (``picture_quality.py``,
#: seeds 120–131, with the colour ceiling): emotion control valence 0.838 / 0.830 → 0.812 / 0.833 by image models
#: v3 / v2, arousal the same; softer sad pictures (detail 0.30 → 0.20 of the photos' over the plane), Fréchet
#: distance on features 77 → 90 (the diffusion model card, "The sad half starts later").
SAD_LAYOUT_STRENGTH: float | None = 9 / 12
#: How far the black point of a picture painted over a layout is lowered (0–1; the pipeline's ``black_point_drop``,
#: :func:`music2img.diffusion.colour.lower_black_point`; ``None``: the tone as painted). The pictures' black points (the
#: 1st percentile of the darkest channel) sit 0.07–0.09 above the photos' at every quantile from the median to the 99th
#: (300 pictures of the defaults, seeds 120–131, against 1,200 photos): a grey haze, strongest in the sad half, where
#: the photos are darkest. Set by that match, not tuned. Applied after the colour ceiling (whose pull towards the luma
#: lifts tinted shadows again). Fresh seeds 180–191 (``benchmarks/picture_quality.py --variants sad-layout default``):
#: Fréchet distance on features 80 → 75 and on pixels 20 → 18, detail 0.24 → 0.27 of the photos', emotion control
#: within 0.008 by image models v3 and v2, saturated and clipped shares 0.28 → 0.51× and 0.18 → 0.31× the photos'
#: (the diffusion model card, "A lower black point"). Films keep their keyframes' tone (``MusicToImage.paint``).
BLACK_POINT_DROP: float | None = 0.075
SAD_VALENCE: tuple[float, float] = (3.5, 5.0)
#: The shadow toe of a picture painted over a layout (the pipeline's ``shadow_toe``,
#: :func:`music2img.diffusion.colour.toe`; ``None``: the shadows as the black point leaves them): this many times the
#: black share (pixels with a channel at 0) of the photo whose layout the picture was painted over becomes black, up to
#: a darkest-channel level of :data:`music2img.diffusion.colour.TOE_MAX_LEVEL`. The photos clip 2.8 % of their pixels at
#: 0, the pictures 1.0 %: their saturated and clipped shares stayed near 0.5× and 0.3× the photos'. The factor was
#: chosen among 1, 1.5 and 2 on seeds 372–383 and confirmed on 384–395, the level cap added on 384–407, where the
#: uncapped toe turned the skies of sunsets over black silhouettes brown. Through the pipeline on fresh seeds 408–419
#: (``benchmarks/picture_quality.py --variants black-point default``): saturated, colourful and clipped shares 0.46 /
#: 1.22 / 0.28 → 0.77 / 1.22 / 0.74× the photos', Fréchet distance on features 81.9 → 80.8 and on pixels 19.06 → 19.00,
#: detail 0.29 → 0.31, emotion control within 0.004 by image models v3 and v2, the same time (the diffusion model card,
#: "A toe under the shadows"). Films keep their keyframes' tone (``MusicToImage.paint``).
SHADOW_TOE: float | None = 2.0
