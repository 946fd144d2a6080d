"""``EmotionLandscapePipeline``: (valence, arousal) → landscape images, with classifier-free guidance."""

from __future__ import annotations

import inspect
import json
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import diffusers
import numpy as np
import torch
from diffusers import DiffusionPipeline, ImagePipelineOutput, LCMScheduler, ModelMixin, SchedulerMixin
from diffusers.utils.torch_utils import randn_tensor
from huggingface_hub import snapshot_download

from ..errors import EmotionRangeError, ModelFileError
from ..files import atomic_path, record_weight_hashes, verify_weight_hashes
from ..va import check_va
from .colour import colourfulness_of, limit_colourfulness, lower_black_point, toe
from .defaults import (
    BLACK_POINT_DROP,
    COLOUR_CEILING,
    EARLY_CHECK,
    GUIDANCE_LOWPASS,
    GUIDANCE_LOWPASS_VALENCE,
    GUIDANCE_PROJECTION,
    GUIDANCE_RESCALE,
    LAYOUT_STRENGTH,
    MAX_REDRAWS,
    SAD_LAYOUT_STRENGTH,
    SAD_VALENCE,
    SHADOW_TOE,
)
from .emotion_map import map_to_labels
from .guidance import AdaptiveProjection, Guider, lowpass_weights
from .landscape_check import LandscapeChecker
from .scene_check import SceneChecker
from .scene_layouts import SceneLayouts, resize_layouts
from .schedulers import DEFAULT_STEPS, scheduler_name
from .unet import EmotionUNet
from .upscaler import Upscaler, lanczos_resize


def _as_list(x: float | Sequence[float]) -> list:
    if isinstance(x, (str, bytes)):
        return [x]
    if isinstance(x, (np.ndarray, torch.Tensor)):
        return [float(v) for v in x.reshape(-1)]
    return list(x) if isinstance(x, Sequence) else [x]


def check_va_lists(
    valence: float | Sequence[float], arousal: float | Sequence[float]
) -> tuple[list[float], list[float]]:
    """Validate scalars or equal-length sequences of valence and arousal (1–9) into two float lists."""
    vs, as_ = _as_list(valence), _as_list(arousal)
    if len(vs) != len(as_) or not vs:
        raise EmotionRangeError(f"valence and arousal need the same non-zero length, got {len(vs)} and {len(as_)}")
    pairs = [check_va(v, a) for v, a in zip(vs, as_)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def check_request(
    valence: float | Sequence[float], arousal: float | Sequence[float], num_images_per_prompt: int, output_type: str
) -> tuple[list[float], list[float]]:
    """Validate a generation request (see :func:`check_va_lists`) into two float lists."""
    vs, as_ = check_va_lists(valence, arousal)
    if num_images_per_prompt < 1:
        raise ValueError(f"num_images_per_prompt must be at least 1, got {num_images_per_prompt}")
    if output_type not in ("pil", "np", "pt"):
        raise ValueError(f"output_type must be 'pil', 'np' or 'pt', got {output_type!r}")
    return vs, as_


def to_output(image: torch.Tensor, output_type: str) -> torch.Tensor | np.ndarray | list:
    """Images ``(n, 3, h, w)`` in [-1, 1] as ``output_type``: ``"pt"`` in [0, 1], ``"np"`` ``(n, h, w, 3)``, or PIL."""
    image = (image.float() / 2 + 0.5).clamp(0, 1)
    if output_type != "pt":
        image = image.cpu().permute(0, 2, 3, 1).numpy()
        if output_type == "pil":
            image = DiffusionPipeline.numpy_to_pil(image)
    return image


@dataclass
class EmotionLandscapePipelineOutput(ImagePipelineOutput):
    """The pictures, and for each how many times it was painted again because the landscape or scene
    checker rejected it (all 0 without checkers), how the checkers rated it as painted (−1: no landscape,
    else its scene probability, 1 without a scene checker; ``None`` when nothing was checked) and which of the
    pipeline's ``layouts`` it was painted over (``None`` for a picture painted from noise or over a given layout,
    and in place of the list when that is every picture)."""

    redraws: list[int] | None = None
    ratings: list[float] | None = None
    layouts: list[int | None] | None = None


class RecordsWeightHashes:
    """Mixin of a :class:`DiffusionPipeline` whose ``save_pretrained`` also records the SHA-256 of the weight
    files in ``weights.sha256`` (:func:`~music2img.files.record_weight_hashes`), which the loaders check."""

    def save_pretrained(self, save_directory: str | os.PathLike, *args, **kwargs) -> None:
        super().save_pretrained(save_directory, *args, **kwargs)
        record_weight_hashes(save_directory)


class EmotionLandscapePipeline(RecordsWeightHashes, DiffusionPipeline):
    r"""Generate landscape images for points on the valence/arousal plane (1–9 scale).

    Parameters:
        unet: The :class:`~music2img.diffusion.unet.EmotionUNet` denoiser.
        scheduler: A DDPM, DDIM or DPM-Solver scheduler built on the training schedule
            (swap with ``make_scheduler(name, pipe.scheduler.config)``); an ``LCMScheduler`` for a
            consistency-distilled student (``train/distill.py``), which paints with one UNet forward
            per step: the guidance is baked in, or an input of the UNet when it takes one.
        landscape_checker: Optional :class:`~music2img.diffusion.landscape_check.LandscapeChecker`;
            pictures it rejects are painted again from new noise (``max_redraws``).
        scene_checker: Optional :class:`~music2img.diffusion.scene_check.SceneChecker`; pictures it calls no
            scene (a texture filling the frame) are painted again as well.
        emotion_quantiles: Optional quantiles of the training labels
            (:func:`~music2img.diffusion.emotion_map.label_quantiles`); requests are then mapped
            onto the labels' distribution (``map_emotion``).
        upscaler: Optional :class:`~music2img.diffusion.upscaler.Upscaler`, a super-resolution network
            that paints pictures asked for at a larger ``size``; without one they are resampled (Lanczos).
        layouts: Optional :class:`~music2img.diffusion.scene_layouts.SceneLayouts`, scene photos' colour
            layouts that pictures start from (``layout_strength``).
        high_noise_unet: Optional second :class:`~music2img.diffusion.unet.EmotionUNet`, fine-tuned on the noisiest
            timesteps only (``train/diffusion.py --timesteps-from``), where a picture's layout is decided: it paints
            the steps at timesteps ``high_noise_from`` and above, ``unet`` the rest (an ensemble of expert denoisers,
            Balaji et al., 2022).
        high_noise_from: The first timestep ``high_noise_unet`` paints; required with it.
    """

    model_cpu_offload_seq = "unet"
    _optional_components = ["landscape_checker", "upscaler", "layouts", "scene_checker", "high_noise_unet"]

    def __init__(
        self,
        unet: EmotionUNet,
        scheduler: SchedulerMixin,
        landscape_checker: LandscapeChecker | None = None,
        emotion_quantiles: list[list[float]] | None = None,
        upscaler: Upscaler | None = None,
        layouts: SceneLayouts | None = None,
        scene_checker: SceneChecker | None = None,
        high_noise_unet: EmotionUNet | None = None,
        high_noise_from: int | None = None,
    ):
        super().__init__()
        if (high_noise_unet is None) != (high_noise_from is None):
            raise ValueError("high_noise_unet and high_noise_from go together: give both or neither")
        self.register_modules(
            unet=unet,
            scheduler=scheduler,
            landscape_checker=landscape_checker,
            upscaler=upscaler,
            layouts=layouts,
            scene_checker=scene_checker,
            high_noise_unet=high_noise_unet,
        )
        self.register_to_config(emotion_quantiles=emotion_quantiles, high_noise_from=high_noise_from)

    @torch.no_grad()
    def __call__(
        self,
        valence: float | Sequence[float],
        arousal: float | Sequence[float],
        num_images_per_prompt: int = 1,
        guidance_scale: float = 3.0,
        guidance_interval: tuple[float, float] = (0.0, 1.0),
        guidance_rescale: float = GUIDANCE_RESCALE,
        guidance_projection: AdaptiveProjection | None = GUIDANCE_PROJECTION,
        guidance_lowpass: float = GUIDANCE_LOWPASS,
        guidance_lowpass_valence: tuple[float, float] | None = GUIDANCE_LOWPASS_VALENCE,
        num_inference_steps: int | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "pil",
        callback: Callable[[int, int, int], None] | None = None,
        return_dict: bool = True,
        map_emotion: bool = True,
        max_redraws: int = MAX_REDRAWS,
        early_check: float | None = EARLY_CHECK,
        size: int | None = None,
        use_upscaler: bool = True,
        layout_strength: float = LAYOUT_STRENGTH,
        sad_layout_strength: float | None = SAD_LAYOUT_STRENGTH,
        layout: torch.Tensor | None = None,
        colour_ceiling: float | None = COLOUR_CEILING,
        black_point_drop: float | None = BLACK_POINT_DROP,
        shadow_toe: float | None = SHADOW_TOE,
    ) -> EmotionLandscapePipelineOutput | tuple:
        r"""Generate ``len(valence) × num_images_per_prompt`` images (grouped by emotion pair).

        Args:
            valence, arousal: Numbers on the 1–9 scale, or equal-length sequences of them.
            num_images_per_prompt: Images per (valence, arousal) pair.
            guidance_scale: Classifier-free guidance ``s`` in ``ε = ε_u + s (ε_c − ε_u)``; ``≤ 1`` runs
                the conditional branch only. A student with a guidance input gets it as that input;
                one distilled at a fixed scale ignores it.
            guidance_interval: The part of the steps that is guided, as fractions ``(start, end)``:
                step ``i`` of ``n`` is guided when ``start ≤ i / n < end``; the other steps run the
                conditional branch only, at half the cost.
            guidance_rescale: Pull the guided prediction's spread back towards the conditional one's by this
                share (0–1; Lin et al., 2023); see :mod:`~music2img.diffusion.guidance`.
            guidance_projection: Adaptive projected guidance settings (Sadat et al., 2024), or ``None`` for
                plain classifier-free guidance.
            guidance_lowpass: σ in pixels of a Gaussian low-pass over the guidance (0: off): guidance pushes the
                picture's low frequencies (light, colour) only, its detail is the conditional prediction's; see
                :mod:`~music2img.diffusion.guidance`.
            guidance_lowpass_valence: ``(low, high)``: the low-pass acts fully on pictures of valence ``low`` and
                below, not at ``high`` and above, blended between (the valence the UNet is conditioned on, after
                ``map_emotion``); ``None``: on every picture.
            num_inference_steps: Denoising steps; default: the sampler's ``DEFAULT_STEPS`` (12 for UniPC,
                25 for DPM-Solver++, 50 for DDIM, 1000 for DDPM).
            generator: Torch generator(s) for reproducible noise.
            latents: Initial noise of shape ``(len(valence) × num_images_per_prompt, channels, size, size)``,
                standard normal (e.g. spherically interpolated between seeds); drawn from ``generator`` if ``None``.
            output_type: ``"pil"``, ``"np"`` (``(n, h, w, 3)`` floats in [0, 1]) or ``"pt"`` (``(n, 3, h, w)``).
            callback: Called as ``callback(step, total, timestep)`` after every step (``total`` grows
                when a picture is redrawn).
            return_dict: Return an :class:`EmotionLandscapePipelineOutput` rather than a tuple.
            map_emotion: Map the requests onto the training labels' distribution by quantiles (when
                the pipeline has ``emotion_quantiles``): 1 and 9 become the lowest and highest labels.
            size: Side in pixels of the pictures returned (default: the UNet's ``sample_size``); see
                :meth:`resize`. The landscape checker judges the pictures as painted, before resizing.
            use_upscaler: Enlarge with the ``upscaler`` network (when the pipeline has one) rather than Lanczos.
            max_redraws: Times a picture the ``landscape_checker`` or the ``scene_checker`` rejects is painted
                again from new noise (drawn from the same generator, so results stay reproducible); 0 turns it
                off. When every draw is rejected the best rated is returned (a landscape before a non-landscape, then
                the higher scene probability).
                Pictures painted from given ``latents`` are never redrawn (the caller chose the noise).
            early_check: When redrawing, also judge the model's estimate of the finished pictures after this
                fraction of the steps painted (at least two), by the landscape checker and by the scene checker's
                ``early_threshold``; if they reject every picture of the batch, the batch is abandoned there and
                painted again. ``None``: check finished pictures only.
            layout_strength: With ``layouts``, the share of the steps painted over a scene photo's colour
                layout (as ``strength`` in diffusers' image-to-image pipelines): each picture starts from a
                layout drawn near its emotion, noised to step ``round((1 − layout_strength) · n)`` of ``n``,
                and the steps before it are skipped. 1, or a pipeline without layouts, starts from noise
                alone. Given ``latents`` are the noise added to the layout.
            sad_layout_strength: With ``layout_strength < 1``, the layout strength of the pictures of valence
                :data:`~music2img.diffusion.defaults.SAD_VALENCE` ``[0]`` and below, blended to ``layout_strength``
                by ``[1]`` (the valence the UNet is conditioned on); ``None``: ``layout_strength`` for every picture.
                Pictures that start at different steps are painted in separate batches.
            layout: The layouts to paint over instead of drawn ones (e.g. a film's, from
                :meth:`~music2img.diffusion.scene_layouts.SceneLayouts.track`): one ``(3, h, w)`` picture in
                [-1, 1] per picture painted, resized (bicubic) to the UNet's size; used when
                ``layout_strength < 1``, with or without the pipeline's ``layouts``.
            colour_ceiling: A picture painted over a layout that is more colourful than this many times the
                colourfulness expected of the pipeline's layouts drawn for its emotion (without ``layouts``: its
                given layout's own) is desaturated to that (:mod:`~music2img.diffusion.colour`); ``None``: never.
            black_point_drop: The black point of a picture painted over a layout (the 1st percentile of its darkest
                channel, 0–1) is lowered by this much, to no lower than 0, its levels stretched to keep white, after
                the colour ceiling, whose pull towards the luma would lift the shadows again
                (:func:`~music2img.diffusion.colour.lower_black_point`); ``None`` or 0: never.
            shadow_toe: A picture painted over one of the pipeline's ``layouts`` gets a toe under its shadows
                after the black point (:func:`~music2img.diffusion.colour.toe`): this many times the share of the
                layout's photo's pixels with a channel at 0 (``SceneLayouts.black_shares``) becomes black on its
                darkest channel, up to the level :data:`~music2img.diffusion.colour.TOE_MAX_LEVEL`; ``None`` or 0:
                never.
        """
        settings = {k: v for k, v in locals().items() if k not in ("self", "valence", "arousal")}  # for splitting
        vs, as_ = check_request(valence, arousal, num_images_per_prompt, output_type)
        if colour_ceiling is not None and not (math.isfinite(colour_ceiling) and colour_ceiling > 0):
            raise ValueError(f"colour_ceiling must be a positive number or None, got {colour_ceiling}")
        if black_point_drop is not None and not (math.isfinite(black_point_drop) and 0.0 <= black_point_drop <= 1.0):
            raise ValueError(f"black_point_drop must be in [0, 1] or None, got {black_point_drop}")
        if shadow_toe is not None and not (math.isfinite(shadow_toe) and shadow_toe >= 0.0):
            raise ValueError(f"shadow_toe must be a number ≥ 0 or None, got {shadow_toe}")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise ValueError(f"size must be a positive number of pixels, got {size!r}")
        if not 0.0 < layout_strength <= 1.0:
            raise ValueError(f"layout_strength must be in (0, 1], got {layout_strength}")
        if sad_layout_strength is not None and not 0.0 < sad_layout_strength <= 1.0:
            raise ValueError(f"sad_layout_strength must be in (0, 1] or None, got {sad_layout_strength}")
        if map_emotion and self.config.emotion_quantiles:
            vs, as_ = map_to_labels(vs, as_, self.config.emotion_quantiles)
        if num_inference_steps is None:
            num_inference_steps = DEFAULT_STEPS[scheduler_name(self.scheduler)]
        if (
            sad_layout_strength is not None
            and layout_strength < 1.0
            and (self.layouts is not None or layout is not None)
        ):
            strengths = layout_strength + lowpass_weights(vs, SAD_VALENCE) * (sad_layout_strength - layout_strength)
            skipped = np.round((1.0 - strengths) * num_inference_steps)
            if len(np.unique(skipped)) > 1:
                return self._paint_by_start(
                    skipped, strengths, settings, vs, as_, num_images_per_prompt, output_type, return_dict
                )
            layout_strength = float(strengths[0])

        device, dtype = self._execution_device, self.unet.dtype
        n = len(vs) * num_images_per_prompt
        v = torch.tensor(vs, device=device).repeat_interleave(num_images_per_prompt)
        a = torch.tensor(as_, device=device).repeat_interleave(num_images_per_prompt)
        start, end = guidance_interval
        if not 0.0 <= start <= end <= 1.0:
            raise ValueError(
                f"guidance_interval must be (start, end) with 0 ≤ start ≤ end ≤ 1, got {guidance_interval}"
            )
        # guided steps: one batched forward, conditional rows first, then the "no emotion" rows
        v2, a2, drop = v.repeat(2), a.repeat(2), torch.arange(2 * n, device=device) >= n

        side = self.unet.config.sample_size
        shape = (n, self.unet.config.in_channels, side, side)
        if latents is None:
            image = randn_tensor(shape, generator=generator, device=device, dtype=dtype)
        elif tuple(latents.shape) != shape:
            raise ValueError(f"latents must have shape {shape}, got {tuple(latents.shape)}")
        else:
            image = latents.to(device=device, dtype=dtype)
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        total = len(self.scheduler.timesteps)
        given, picks = layout, None
        first = self._first_step(layout_strength, total, given is not None)
        if first:
            if layout is None:
                k = num_images_per_prompt  # a layout for every picture, drawn with its generator
                picks = self.layouts.choose(np.repeat(vs, k), np.repeat(as_, k), generator)
                layout = self.layouts.enlarge(picks, side)
            elif layout.ndim != 4 or tuple(layout.shape[:2]) != (n, 3):
                raise ValueError(f"layout must have shape ({n}, 3, h, w), got {tuple(layout.shape)}")
            elif layout.shape[-2:] != (side, side):
                layout = resize_layouts(layout, side)
            image = self.scheduler.add_noise(layout.to(image), image, self.scheduler.timesteps[first : first + 1])
        else:
            image = image * self.scheduler.init_noise_sigma
        takes_generator = "generator" in inspect.signature(self.scheduler.step).parameters
        step_kwargs = {"generator": generator} if takes_generator else {}
        has_checker = self.landscape_checker is not None or self.scene_checker is not None
        checking = max_redraws > 0 and has_checker and latents is None
        check_at = self._early_check_step(early_check, total - first) if checking else None
        guider = Guider(
            guidance_scale,
            guidance_rescale,
            guidance_projection,
            getattr(self.scheduler, "alphas_cumprod", None) if self.scheduler.init_noise_sigma == 1.0 else None,
            guidance_lowpass,
            torch.as_tensor(lowpass_weights(v.cpu().numpy(), guidance_lowpass_valence)),
        )
        done, abandoned = total - first, False
        student = isinstance(self.scheduler, LCMScheduler)
        w = {"guidance": guidance_scale} if self.unet.config.get("guidance_embedding") else {}
        for i, t in enumerate(self.progress_bar(self.scheduler.timesteps[first:]), start=first):
            guided = not student and guidance_scale > 1.0 and start <= i / total < end
            x = self.scheduler.scale_model_input(torch.cat([image, image]) if guided else image, t)
            unet = self.denoiser(t)
            eps = unet(x, t, v2, a2, drop_emotion=drop).sample if guided else unet(x, t, v, a, **w).sample
            if guided:
                eps = guider(*eps.chunk(2), image, t)
            if i + 1 - first == check_at:
                abandoned = not self._early_passes(self._estimate_pictures(image, eps, t)).any()
            image = self.scheduler.step(eps, t, image, **step_kwargs).prev_sample
            if callback is not None:
                callback(i + 1 - first, total - first, int(t))
            if abandoned:
                done = i + 1 - first
                break

        redraws, rating = [0] * len(image), None
        per_image = [np.repeat(x, num_images_per_prompt).tolist() for x in (vs, as_)]
        if checking:
            if abandoned:  # unfinished pictures: never kept
                bad, rating = np.arange(len(image)), np.full(len(image), -np.inf)
            else:
                accepted, rating = self._ratings(image)
                bad = np.flatnonzero(~accepted)
            image, redraws, rating, picks = self._redraw(
                image,
                bad,
                rating,
                picks,
                *per_image,
                generator,
                done,
                callback,
                max_redraws=max_redraws,
                guidance_scale=guidance_scale,
                guidance_interval=guidance_interval,
                guidance_rescale=guidance_rescale,
                guidance_projection=guidance_projection,
                guidance_lowpass=guidance_lowpass,
                guidance_lowpass_valence=guidance_lowpass_valence,
                num_inference_steps=num_inference_steps,
                early_check=early_check,
                layout_strength=layout_strength,
                layout=given,
            )
        if colour_ceiling is not None and first:
            if self.layouts is not None:
                reference = self.layouts.expected_colourfulness(*per_image, image.shape[-1])
            else:
                reference = colourfulness_of(layout.float() / 2 + 0.5)
            image = limit_colourfulness((image.float() / 2 + 0.5).clamp(0, 1), colour_ceiling * reference) * 2 - 1
        if black_point_drop and first:
            image = lower_black_point((image.float() / 2 + 0.5).clamp(0, 1), black_point_drop) * 2 - 1
        if shadow_toe and picks is not None:
            shares = self.layouts.black_shares[torch.as_tensor(picks, device=self.layouts.black_shares.device)]
            shares = (shadow_toe * shares.float()).clamp(0, 1).cpu().numpy()
            image = toe((image.float() / 2 + 0.5).clamp(0, 1), shares) * 2 - 1
        if size is not None and size != image.shape[-1]:
            image = self.resize((image.float() / 2 + 0.5).clamp(0, 1), size, use_upscaler) * 2 - 1
        image = to_output(image, output_type)
        self.maybe_free_model_hooks()
        if not return_dict:
            return (image,)
        ratings = None if rating is None else rating.tolist()
        return EmotionLandscapePipelineOutput(images=image, redraws=redraws, ratings=ratings, layouts=picks)

    def resize(self, images: torch.Tensor, size: int, use_upscaler: bool = True) -> torch.Tensor:
        """Pictures ``(n, 3, h, w)`` in [0, 1] at ``size × size``, in [0, 1]: enlarged by the ``upscaler``
        network when there is one (and ``use_upscaler``), then Lanczos to ``size`` if its output has
        another size; otherwise, and to shrink, Lanczos alone."""
        if size == images.shape[-1]:
            return images
        if use_upscaler and self.upscaler is not None and size > images.shape[-1]:
            images = self.upscaler.upscale(images).to(images.device)
            if size == images.shape[-1]:
                return images
        return lanczos_resize(images, size)

    def denoiser(self, timestep: torch.Tensor | int) -> EmotionUNet:
        """The UNet for the step at ``timestep``: ``high_noise_unet`` from ``high_noise_from`` on, else ``unet``."""
        if self.high_noise_unet is not None and int(timestep) >= self.config.high_noise_from:
            return self.high_noise_unet
        return self.unet

    def _first_step(self, layout_strength: float, total: int, given: bool = False) -> int:
        """The step painting starts at: ``round((1 − layout_strength) · total)`` when the pipeline has layouts
        or is ``given`` one (at most ``total − 1``), else 0. Schedulers that can start there (``set_begin_index``)
        are told so."""
        if (self.layouts is None and not given) or layout_strength >= 1.0:
            return 0
        first = min(round((1.0 - layout_strength) * total), total - 1)
        if hasattr(self.scheduler, "set_begin_index"):
            self.scheduler.set_begin_index(first)
        return first

    def _early_check_step(self, fraction: float | None, total: int) -> int | None:
        """The step after which the estimate of the finished pictures is checked (``None``: never).
        The estimate needs a scheduler whose samples are ``x_t`` of the training schedule and a model
        that predicts ε (DDPM, DDIM, DPM-Solver, UniPC; not the σ-scaled samples of Euler-type
        schedulers, nor a v-predicting student)."""
        if (
            fraction is None
            or self.scheduler.init_noise_sigma != 1.0
            or not hasattr(self.scheduler, "alphas_cumprod")
            or self.scheduler.config.get("prediction_type", "epsilon") != "epsilon"
        ):
            return None
        step = max(2, math.ceil(fraction * total))
        return step if step < total else None

    def _ratings(self, image: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """For pictures ``(n, 3, h, w)`` in [-1, 1]: whether the checkers the pipeline has pass each (the landscape
        checker, then the scene checker on the landscapes), and a rating to choose among rejected draws: −1 for a
        non-landscape, else its scene probability (1 without a scene checker)."""
        pictures = (to_output(image, "np") * 255 + 0.5).astype(np.uint8)
        rating = np.ones(len(pictures))
        if self.landscape_checker is not None:
            rating[~self.landscape_checker.is_landscape(pictures)] = -1.0
        landscape = rating >= 0
        if self.scene_checker is not None and landscape.any():
            rating[landscape] = self.scene_checker.probability(pictures[landscape])
        return self._passes(rating), rating

    def _early_passes(self, estimates: np.ndarray) -> np.ndarray:
        """Which estimates of finished pictures (uint8 ``(n, h, w, 3)``) may still pass: landscapes, and without a
        hopeless scene probability (below the scene checker's ``early_threshold``; 0 never is)."""
        passes = np.ones(len(estimates), bool)
        if self.landscape_checker is not None:
            passes &= self.landscape_checker.is_landscape(estimates)
        early_threshold = 0.0 if self.scene_checker is None else self.scene_checker.config.early_threshold
        if early_threshold > 0 and passes.any():
            passes[passes] = self.scene_checker.probability(estimates[passes]) >= early_threshold
        return passes

    def _passes(self, rating: np.ndarray) -> np.ndarray:
        """Which :meth:`_ratings` pass the checkers: a landscape, and a scene by the scene checker's threshold."""
        return rating >= (0.0 if self.scene_checker is None else self.scene_checker.config.threshold)

    def _estimate_pictures(self, sample: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> np.ndarray:
        """The finished pictures as the noise prediction ``eps`` at ``x_t = sample`` implies them,
        x̂₀ = (x_t − √(1 − ᾱ_t) ε̂) / √ᾱ_t, as uint8 ``(n, h, w, 3)``."""
        abar = self.scheduler.alphas_cumprod[int(t)].to(sample.device, torch.float32)
        x0 = (sample.float() - (1 - abar).sqrt() * eps.float()) / abar.sqrt()
        return (to_output(x0.clamp(-1, 1), "np") * 255 + 0.5).astype(np.uint8)

    def _paint_by_start(
        self,
        skipped: np.ndarray,
        strengths: np.ndarray,
        settings: dict,
        vs: list[float],
        as_: list[float],
        k: int,
        output_type: str,
        return_dict: bool,
    ) -> EmotionLandscapePipelineOutput | tuple:
        """Paint the (mapped) requests ``vs, as_`` in one batch per number of ``skipped`` steps, each at its
        requests' layout strength, with the call's other ``settings``; the pictures come back in request order."""
        n, generator, latents, layout = len(vs) * k, settings["generator"], settings["latents"], settings["layout"]
        images, redraws, ratings, picks = None, [0] * n, [0.0] * n, [0] * n
        for start in np.unique(skipped):
            requests = np.flatnonzero(skipped == start)
            pictures = (requests[:, None] * k + np.arange(k)).ravel()
            part = self(
                [vs[i] for i in requests],
                [as_[i] for i in requests],
                **{
                    **settings,
                    "generator": [generator[i] for i in pictures] if isinstance(generator, list) else generator,
                    "latents": None if latents is None else latents[torch.as_tensor(pictures)],
                    "layout": None if layout is None else layout[torch.as_tensor(pictures)],
                    "layout_strength": float(strengths[requests[0]]),
                    "sad_layout_strength": None,
                    "map_emotion": False,
                    "output_type": "pt",
                    "return_dict": True,
                },
            )
            if images is None:
                images = part.images.new_empty((n, *part.images.shape[1:]))
            images[torch.as_tensor(pictures)] = part.images
            for i, p in enumerate(pictures):
                redraws[p] = part.redraws[i]
                ratings[p] = None if part.ratings is None else part.ratings[i]
                picks[p] = None if part.layouts is None else part.layouts[i]
        images = to_output(images * 2 - 1, output_type)
        ratings = None if any(r is None for r in ratings) else ratings
        picks = None if all(i is None for i in picks) else picks
        if not return_dict:
            return (images,)
        return EmotionLandscapePipelineOutput(images=images, redraws=redraws, ratings=ratings, layouts=picks)

    def _redraw(
        self,
        image: torch.Tensor,
        bad: np.ndarray,
        rating: np.ndarray,
        picks: list[int] | None,
        vs: list[float],
        as_: list[float],
        generator: torch.Generator | list[torch.Generator] | None,
        done: int,
        callback: Callable[[int, int, int], None] | None,
        max_redraws: int,
        **sampling,
    ) -> tuple[torch.Tensor, list[int], np.ndarray, list[int] | None]:
        """Paint again, with the same (already mapped) emotions and settings, the pictures ``bad`` of
        ``image`` (``(n, 3, h, w)`` in [-1, 1]) that the checkers rejected, after ``done`` steps; where the new
        draw is rejected too, the better rated of the two is kept (``rating``: every picture's, see
        :meth:`_ratings`; ``picks``: the layouts they were drawn over, or ``None``). Also returns how many times
        each was redrawn, and the ratings and layouts of the pictures kept."""
        redraws = [0] * len(image)
        if not len(bad):
            return image, redraws, rating, picks
        gens = [generator[i] for i in bad] if isinstance(generator, list) else generator
        if sampling.get("layout") is not None:
            sampling["layout"] = sampling["layout"][torch.as_tensor(bad, device=sampling["layout"].device)]
        more = None if callback is None else (lambda i, n, t: callback(done + i, done + n, t))
        again = self(
            [vs[i] for i in bad],
            [as_[i] for i in bad],
            generator=gens,
            output_type="pt",
            callback=more,
            map_emotion=False,
            max_redraws=max_redraws - 1,
            colour_ceiling=None,  # the caller sets the colour and tone of the pictures it keeps
            black_point_drop=None,
            shadow_toe=None,
            sad_layout_strength=None,  # the caller's layout_strength is the pictures' own
            **sampling,
        )
        new = again.images.to(image) * 2 - 1
        if again.ratings is None:  # the last redraw: checked here
            accepted, new_rating = self._ratings(new)
        else:
            new_rating = np.asarray(again.ratings)
            accepted = self._passes(new_rating)
        keep = ~accepted & (rating[bad] > new_rating)
        image, rating = image.clone(), rating.copy()
        where = torch.as_tensor(keep, device=new.device)[:, None, None, None]
        image[torch.as_tensor(bad)] = torch.where(where, image[torch.as_tensor(bad)], new)
        rating[bad] = np.where(keep, rating[bad], new_rating)
        if picks is not None:
            picks = list(picks)
            for j in np.flatnonzero(~keep):
                picks[bad[j]] = again.layouts[j]
        for i, n in zip(bad, again.redraws):
            redraws[i] = 1 + n
        return image, redraws, rating, picks


def load_pipeline(model: str | os.PathLike, device: str | torch.device = "cpu", **kwargs) -> EmotionLandscapePipeline:
    """Load a saved pipeline from a local folder or a Hugging Face repo id, in float32 on ``device``
    (``kwargs`` go to :func:`huggingface_hub.snapshot_download`, e.g. ``cache_dir``, ``revision``).

    The pipeline is assembled from its ``unet/`` and ``scheduler/`` subfolders, so folders saved
    before the package was laid out by stage (whose ``model_index.json`` names ``music2img.unet``)
    load as well as new ones. The weight files are checked against the SHA-256 hashes recorded in
    ``weights.sha256`` before they are read (a folder without it loads with a warning). Raises
    :class:`~music2img.errors.ModelFileError` when the folder is missing or incomplete, or a weight
    file is corrupt, truncated or fails its checksum.
    """
    local = os.path.isdir(model) or os.path.isabs(str(model)) or str(model).startswith((".", "~"))
    try:
        folder = str(model) if local else snapshot_download(str(model), **kwargs)
    except (OSError, ValueError) as err:
        raise ModelFileError(f"cannot fetch the diffusion model {model}: {err}") from err
    index_file = os.path.join(folder, "model_index.json")
    if not os.path.isfile(index_file):
        raise ModelFileError(
            f"no diffusion model at {model}: expected a pipeline folder with model_index.json "
            "(train one with train/diffusion.py or pass --model DIR_OR_REPO)"
        )
    verify_weight_hashes(folder, "diffusion model")
    try:
        with open(index_file, encoding="utf-8") as f:
            index = json.load(f)
        scheduler_class = index["scheduler"][1]
        scheduler_cls = getattr(diffusers, scheduler_class)
        if not issubclass(scheduler_cls, SchedulerMixin):
            raise ValueError(f"{scheduler_class} is not a diffusers scheduler")
        unet = EmotionUNet.from_pretrained(folder, subfolder="unet", low_cpu_mem_usage=False)
        scheduler = scheduler_cls.from_pretrained(folder, subfolder="scheduler")
        checker = upscaler = layouts = scene_checker = high_noise_unet = None
        if (index.get("landscape_checker") or [None])[0] is not None:
            checker = LandscapeChecker.from_pretrained(folder, subfolder="landscape_checker", low_cpu_mem_usage=False)
        if (index.get("upscaler") or [None])[0] is not None:
            upscaler = Upscaler.from_pretrained(folder, subfolder="upscaler", low_cpu_mem_usage=False)
        if (index.get("layouts") or [None])[0] is not None:
            layouts = SceneLayouts.from_pretrained(folder, subfolder="layouts", low_cpu_mem_usage=False)
        if (index.get("scene_checker") or [None])[0] is not None:
            scene_checker = SceneChecker.from_pretrained(folder, subfolder="scene_checker", low_cpu_mem_usage=False)
        if (index.get("high_noise_unet") or [None])[0] is not None:
            high_noise_unet = EmotionUNet.from_pretrained(folder, subfolder="high_noise_unet", low_cpu_mem_usage=False)
            high_noise_unet = high_noise_unet.float().to(memory_format=torch.channels_last)
    except (OSError, KeyError, TypeError, AttributeError, ValueError, json.JSONDecodeError) as err:
        raise ModelFileError(f"cannot load the diffusion model from {model}: {err}") from err
    if upscaler is not None:
        upscaler = upscaler.float().to(memory_format=torch.channels_last)
    pipe = EmotionLandscapePipeline(
        unet=unet.float(),
        scheduler=scheduler,
        landscape_checker=checker,
        emotion_quantiles=index.get("emotion_quantiles"),
        upscaler=upscaler,
        layouts=layouts,
        scene_checker=scene_checker,
        high_noise_unet=high_noise_unet,
        high_noise_from=index.get("high_noise_from"),
    )
    pipe.unet.to(memory_format=torch.channels_last)  # ~20 % faster convolutions on CPU, no effect on results
    return pipe.to(device)


def save_component(folder: str | os.PathLike, name: str, module: ModelMixin, **config) -> None:
    """Save ``module`` (a diffusers ``ModelMixin``) as the component ``name`` of the saved pipeline ``folder``:
    its files written atomically into ``folder/name``, the weight hashes recorded and ``model_index.json``
    naming it and holding the pipeline ``config`` values given — the rest of the pipeline untouched."""
    folder = Path(folder)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        module.save_pretrained(tmp)
        config_file = Path(tmp) / "config.json"
        if config_file.exists():  # the folder a module was loaded from is no part of its config
            saved = {k: v for k, v in json.loads(config_file.read_text()).items() if k != "_name_or_path"}
            config_file.write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n")
        for file in sorted(Path(tmp).iterdir()):
            with atomic_path(folder / name / file.name) as out:
                out.write_bytes(file.read_bytes())
    record_weight_hashes(folder)
    index_file = folder / "model_index.json"
    index = json.loads(index_file.read_text())
    index[name] = [type(module).__module__, type(module).__name__]
    index.update(config)
    with atomic_path(index_file) as out:
        out.write_text(json.dumps(index, indent=2) + "\n")
