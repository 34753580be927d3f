import logging

import numpy as np
import pytest

from tests.configs import tiny, variants
from wgan_lab.gan.trainer import Budget, Callbacks, GANTrainer, NonFiniteLossError



def code_path(name: str) -> tuple:
    """What the trainer branches on; variants that differ only in numbers share one."""
    config = tiny(name)
    return (config.objective.loss, config.objective.regularizer, config.model.architecture,
            config.model.critic_norm, config.optimizer.name, config.optimizer.ema_decay > 0,
            config.objective.n_critic > 1, config.model.conditioning)


# One variant of conf/base per code path (test_wiring checks every variant's loss
# and penalty value for value), plus the original minimax GAN.
CASES = {name: {} for name in {code_path(name): name for name in reversed(variants())}.values()}
CASES["gan_minimax"] = {"objective": {"loss": "minimax"}}


def case(name: str, **sections):
    base = name if name in variants() else "gan"
    return tiny(base, **{"variant": name, **CASES.get(name, {}), **sections})


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).uniform(-1, 1, (64, 8, 8, 1)).astype(np.float32)


@pytest.mark.parametrize("variant", sorted(CASES))
def test_each_variant_trains_and_reports(variant, images, tmp_path):
    config = case(variant)
    steps, grids = [], []
    # Conditional variants train on labels of 4 classes: one sample of each in a grid.
    trainer = GANTrainer(config, images.shape[1:], n_classes=4)
    labels = np.arange(len(images)) % 4
    result = trainer.fit(
        images, tmp_path, Callbacks(on_step=lambda s, row: steps.append(s),
                                    on_samples=lambda s, x: grids.append((s, x.shape))),
        labels=labels)
    assert steps == [2, 4, 6]
    assert grids == [(3, (4, 8, 8, 1)), (6, (4, 8, 8, 1))]
    assert list(result.history["step"]) == [2, 4, 6]
    assert np.isfinite(result.history.drop(columns="step").to_numpy()).all()
    assert result.samples.min() >= -1 and result.samples.max() <= 1
    regularizer = config.objective.regularizer
    if regularizer == "clip":
        weights = np.concatenate([w.ravel() for w in result.critic.get_weights()])
        assert np.abs(weights).max() <= config.objective.clip_value + 1e-7
    if regularizer in ("gradient_penalty", "dragan", "r1"):
        assert (result.history["gradient_penalty"] > 0).all()
    else:
        assert (result.history["gradient_penalty"] == 0).all()
    if regularizer == "spectral_norm":
        # Keras's layer keeps the normalised kernel in the variable itself.
        for layer in result.critic.layers:
            if hasattr(layer, "vector_u"):
                top = np.linalg.svd(layer.kernel.numpy().reshape(-1, layer.kernel.shape[-1]),
                                    compute_uv=False)[0]
                assert top == pytest.approx(1.0, abs=0.1)


def test_rerun_resumes_and_extends(images, tmp_path):
    GANTrainer(tiny(schedule={"steps": 3}), images.shape[1:]).fit(images, tmp_path)
    result = GANTrainer(tiny(schedule={"steps": 6}), images.shape[1:]).fit(images, tmp_path)
    assert result.resumed_from == 3 and result.steps_run == 3
    # The first run's final step is a row of its own.
    assert list(result.history["step"]) == [2, 3, 4, 6]


def test_time_budget_counts_training_only_and_resumes_to_a_longer_one(images, tmp_path):
    # Each evaluation sleeps 0.3 s: wall-clock time that is not training time.
    import time

    def slow_evaluate(step, generator):
        time.sleep(0.3)
        return {"fid": 1.0}

    def train(budget):
        config = tiny(schedule={"steps": 10**7, "log_every": 20, "sample_every": 10**6,
                                "checkpoint_every": 200, "eval_every": 20,
                                "max_seconds": budget})
        started = time.perf_counter()
        result = GANTrainer(config, images.shape[1:]).fit(
            images, tmp_path, Callbacks(evaluate=slow_evaluate))
        return result, time.perf_counter() - started

    result, wall = train(1.5)
    seconds = result.history["seconds"]
    trained = seconds.iloc[-1]
    evaluations = len(result.evaluations)
    # It stops at the first event past the budget (a log row every 20 steps); the
    # first call's tracing counts as training, so under load that may be the first.
    assert trained >= 1.5 and (len(seconds) == 1 or seconds.iloc[-2] < 1.5)
    assert evaluations >= 1 and wall >= trained + 0.3 * evaluations
    steps = int(result.history["step"].iloc[-1])
    assert steps < 10**7 and result.steps_run == steps
    # A rerun with the same budget has nothing left to do; a longer one resumes.
    again, _ = train(1.5)
    assert again.resumed_from == steps and again.steps_run == 0
    # Past what was trained, not a fixed 3 s: under load the first call's tracing
    # alone can take longer than that.
    budget = trained + 1.5
    longer, _ = train(budget)
    assert longer.resumed_from == steps and longer.steps_run > 0
    seconds = longer.history["seconds"]
    assert seconds.iloc[-1] >= budget and seconds.iloc[-2] < budget


def test_changed_configuration_starts_fresh_and_says_so(images, tmp_path, caplog):
    GANTrainer(tiny(schedule={"steps": 3}), images.shape[1:]).fit(images, tmp_path / "ckpt")
    with caplog.at_level(logging.WARNING):
        result = GANTrainer(tiny(schedule={"steps": 3}, optimizer={"learning_rate": 1e-3}),
                            images.shape[1:]).fit(
            images, tmp_path / "ckpt")
    assert result.resumed_from == 0
    assert "configuration changed" in caplog.text
    assert len(list(tmp_path.glob("ckpt.replaced-*"))) == 1


def test_ema_generator_is_exported(images, tmp_path):
    trainer = GANTrainer(tiny(optimizer={"ema_decay": 0.9}), images.shape[1:])
    result = trainer.fit(images, tmp_path)
    assert result.generator is trainer.ema_generator
    live, ema = trainer.generator.get_weights(), trainer.ema_generator.get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(live, ema))


def test_non_finite_loss_stops_with_variant_step_and_checkpoint(images, tmp_path):
    GANTrainer(tiny("wgan_gp", schedule={"steps": 3}), images.shape[1:]).fit(
        images, tmp_path)
    poisoned = images.copy()
    poisoned[:] = np.nan
    trainer = GANTrainer(tiny("wgan_gp", schedule={"steps": 6}), images.shape[1:])
    with pytest.raises(NonFiniteLossError,
                       match=r"wgan_gp: critic_loss is nan at step 4; the last good checkpoint "
                             r"\(step 3\)"):
        trainer.fit(poisoned, tmp_path)
    assert (tmp_path / "ckpt-3.index").is_file() and not (tmp_path / "ckpt-6.index").exists()


def test_too_few_images_for_one_step(tmp_path):
    few = np.zeros((10, 8, 8, 1), np.float32)
    with pytest.raises(ValueError, match=r"^gan\.training\.optimizer\.batch_size: 10 training "
                                         r"images are fewer .* = 24"):
        GANTrainer(tiny(objective={"n_critic": 3}), few.shape[1:]).fit(few, tmp_path)


def test_xla_compiled_steps_match_the_plain_ones(images, tmp_path):
    plain = GANTrainer(tiny("wgan_gp"), images.shape[1:])
    plain.fit(images, tmp_path / "plain")
    xla = GANTrainer(tiny("wgan_gp", runtime={"jit_compile": True}), images.shape[1:])
    xla.fit(images, tmp_path / "xla")
    for a, b in zip(plain.critic.get_weights(), xla.critic.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


def test_steps_per_call_does_not_change_the_training(images, tmp_path):
    # Steps inside one call skip their metrics and draw noise keyed by the
    # step: one call of 6 steps must train exactly like 6 calls of 1.
    schedule = {"log_every": 6, "sample_every": 6, "checkpoint_every": 6}
    runs = []
    for per_call in (1, 6):
        trainer = GANTrainer(tiny("wgan_gp", schedule=schedule, runtime={"steps_per_call": per_call}),
                             images.shape[1:])
        runs.append((trainer, trainer.fit(images, tmp_path / str(per_call))))
    (one, one_result), (six, six_result) = runs
    for a, b in zip(one.critic.get_weights() + one.generator.get_weights(),
                    six.critic.get_weights() + six.generator.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(one_result.history.iloc[-1].drop(["seconds", "images_per_sec"]),
                               six_result.history.iloc[-1].drop(["seconds", "images_per_sec"]),
                               rtol=1e-5, atol=1e-6)


def test_mixed_bfloat16_computes_in_bfloat16_and_keeps_float32_weights(tmp_path):
    import keras
    import tensorflow as tf

    from wgan_lab.gan.regularizers import gradient_penalty

    images = np.random.default_rng(0).uniform(-1, 1, (48, 16, 16, 1)).astype(np.float32)
    # Fixed settings, not the current default's: the tolerance below holds for the
    # weights four steps of this optimizer reach.
    config = tiny("wgan_gp_120s", model={"architecture": "dcgan", "filters": 4},
                  runtime={"precision": "mixed_bfloat16"}, schedule={"steps": 4})
    trainer = GANTrainer(config, images.shape[1:])
    result = trainer.fit(images, tmp_path / "ckpt")
    assert trainer.precision == "mixed_bfloat16"
    assert np.isfinite(result.history[["critic_loss", "generator_loss"]].to_numpy()).all()
    assert {v.dtype for v in trainer.critic.weights + trainer.generator.weights} == {"float32"}
    assert {layer.compute_dtype for layer in trainer.critic.layers[1:-1]} == {"bfloat16"}
    noise = tf.random.normal([4, config.model.latent_dim])
    assert trainer.generator(noise).dtype == tf.float32

    # The penalty of the bfloat16 critic stays close to float32 arithmetic on
    # the same weights (bfloat16 keeps ~3 significant digits).
    reference = GANTrainer(tiny("wgan_gp_120s", model={"architecture": "dcgan", "filters": 4},
                                runtime={"precision": "float32"}), images.shape[1:])
    reference.critic.set_weights(trainer.critic.get_weights())
    fake = trainer.generator(tf.random.normal([16, config.model.latent_dim]))
    epsilon = tf.random.uniform([16])
    penalties = [gradient_penalty(lambda x, c=c: c(x, training=True), images[:16], fake,
                                  {"epsilon": epsilon})
                 for c in (trainer.critic, reference.critic)]
    np.testing.assert_allclose(penalties[0], penalties[1], rtol=0.05, atol=1e-3)

    # The Keras file keeps the precision and loads in safe mode.
    path = tmp_path / "generator.keras"
    trainer.generator.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded(noise, training=False),
                               trainer.generator(noise, training=False), atol=1e-6)


def test_fits_without_checkpoints_go_on_as_one_fit(images):
    """A search or a benchmark trains in parts on one trainer, saving nothing: the
    parts end bit-identical to one fit of the whole budget."""
    config = tiny(schedule={"steps": 10**6})
    whole = GANTrainer(config, images.shape[1:])
    whole.fit(images, budget=Budget("steps", 9))
    parts = GANTrainer(config, images.shape[1:])
    for steps in (2, 5, 9):
        result = parts.fit(images, budget=Budget("steps", steps))
    assert result.resumed_from == 5 and result.steps_run == 4 and result.spent["steps"] == 9
    pairs = zip(whole.compiled.state_variables(), parts.compiled.state_variables())
    for a, b in pairs:
        if a is not whole.compiled.elapsed:  # wall-clock seconds differ, of course
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_budget_checks_evaluate_at_evenly_spaced_steps_and_a_callback_stops(images):
    seen = []

    def stop_at_second(step, spent, scores):
        seen.append((step, spent["steps"], scores["fid"]))
        return len(seen) == 2

    config = tiny(schedule={"eval_every": 0, "log_every": 7, "checkpoint_every": 1000})
    result = GANTrainer(config, images.shape[1:]).fit(
        images, callbacks=Callbacks(evaluate=lambda step, g: {"fid": float(step)},
                                    on_evaluation=stop_at_second),
        budget=Budget("steps", 10, checks=4))   # checks at ceil(2.5), 5, ceil(7.5), 10
    assert seen == [(3, 3.0, 3.0), (5, 5.0, 5.0)]
    assert result.stopped and result.spent["steps"] == 5
    assert list(result.evaluations["step"]) == [3, 5]


def test_cpu_seconds_budget_counts_training_cpu_and_survives_a_resume(images, tmp_path):
    import time

    def busy_evaluate(step, generator):
        # CPU spent in evaluation is not training CPU.
        until = time.process_time() + 0.2
        while time.process_time() < until:
            pass
        return {"fid": 1.0}

    def train(amount):
        config = tiny(schedule={"steps": 10**7, "log_every": 20, "sample_every": 10**6,
                                "checkpoint_every": 200, "eval_every": 20})
        cpu = time.process_time()
        result = GANTrainer(config, images.shape[1:]).fit(
            images, tmp_path, Callbacks(evaluate=busy_evaluate), Budget("cpu_seconds", amount))
        return result, time.process_time() - cpu

    result, cpu = train(1.0)
    assert result.spent["cpu_seconds"] >= 1.0 and not result.stopped
    evaluations = len(result.evaluations)
    assert evaluations >= 1 and cpu >= result.spent["cpu_seconds"] + 0.2 * evaluations - 0.05
    again, _ = train(1.0)
    assert again.steps_run == 0 and again.resumed_from == result.spent["steps"]
    longer, _ = train(result.spent["cpu_seconds"] + 1.0)
    assert longer.resumed_from == result.spent["steps"] and longer.steps_run > 0
    assert longer.spent["cpu_seconds"] >= result.spent["cpu_seconds"] + 1.0
