"""A contact sheet for a person to choose from: one row per track with its best face, when it is on
screen and how good the face is; the video's attribution is printed on it."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont

from faceledger.engine.video_faces import VideoFaces

_ROW_PX = 176
_WIDTH_PX = 900


def contact_sheet(result: VideoFaces) -> bytes:
    header = 56
    footer = 40
    height = header + max(1, len(result.tracks)) * _ROW_PX + footer
    sheet = Image.new("RGB", (_WIDTH_PX, height), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=16)
    small = ImageFont.load_default(size=13)
    info = result.info
    draw.text(
        (12, 10),
        f"{info.name}: {info.duration_s:.2f} s, {info.width}x{info.height}, "
        f"{len(result.tracks)} track(s), a frame every {result.every_s} s",
        fill="black",
        font=font,
    )
    draw.text((12, 32), f"sha256 {info.sha256}", fill="dimgray", font=small)
    if not result.tracks:
        draw.text((12, header + 20), "No face large enough to track.", fill="black", font=font)
    for row, track in enumerate(result.tracks):
        top = header + row * _ROW_PX
        crop = Image.open(io.BytesIO(result.crops[track.number])).convert("RGB")
        scale = 160 / max(crop.size)  # small faces are enlarged so a person can judge them
        crop = crop.resize((round(crop.width * scale), round(crop.height * scale)), Image.Resampling.LANCZOS)
        sheet.paste(crop, (12, top + 8))
        facts = result.track_dict(track)
        lines = [
            f"Track {track.number}",
            f"on screen {facts['first_s']:.2f} s to {facts['last_s']:.2f} s ({facts['sightings']} sampled frames)",
            f"best face at {facts['best_s']:.2f} s (face {facts['best_face']}), quality {facts['quality']:.2f}",
            *(f"low: {problem}" for problem in facts["quality_problems"][:2]),
        ]
        for number, line in enumerate(lines):
            draw.text((200, top + 14 + 24 * number), line, fill="black", font=font if number == 0 else small)
        draw.line((12, top + _ROW_PX - 2, _WIDTH_PX - 12, top + _ROW_PX - 2), fill="lightgray")
    draw.text((12, height - footer + 12), result.attribution or "(no attribution given)", fill="black", font=small)
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    return buffer.getvalue()
