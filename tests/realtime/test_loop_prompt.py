"""While the neutral face is being calibrated the preview (only) says what
to do; the prompt goes once calibration is done."""

from __future__ import annotations

import numpy as np
from loop_fakes import FakeEngine, FakeEstimator, FakePreview, FakeTracker, ListSource, RecordingSink, photo

from vivicam.calibrate.neutral import CALIBRATION_PROMPT
from vivicam.realtime.loop import LiveLoop, LoopConfig
from vivicam.realtime.pipeline import Pipeline


class PromptingEstimator(FakeEstimator):
    @property
    def calibration_prompt(self) -> str | None:
        return None if self.calibrated else CALIBRATION_PROMPT


def test_the_preview_shows_the_calibration_prompt_until_calibrated() -> None:
    engine, estimator, preview, sink = FakeEngine(), PromptingEstimator(calibrate_after=4), FakePreview({}), RecordingSink()
    pipeline = Pipeline(engine, engine.prepare(photo()), tracker=FakeTracker(), estimator=estimator)
    LiveLoop(ListSource(12, interval=0.03), pipeline, [sink], preview=preview, config=LoopConfig()).run(duration_s=10)
    sent = {id(f): img for f, img in zip(sink.frames, sink.images)}
    prompted = [not np.array_equal(img, sent[id(f)]) for f, img in zip(preview.frames, preview.images)]
    assert prompted[0] and not prompted[-1]  # shown while calibrating, gone after
    assert prompted == sorted(prompted, reverse=True)  # never back once gone
    assert all(np.unique(img[20:40, 16:48]).size == 1 for img in sink.images)  # never sent to the sinks
