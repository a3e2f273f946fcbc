"""Trainers: the bundled model suite's GAN, segmenter and encoder, and the general encoder trainer.

``synth_suite`` runs the whole suite (``python -m ganpaint_core.training.synth_suite all``); ``encoder_run``
trains an encoder for any model (``python -m ganpaint_core train-encoder``). Runtime code never imports this
package.
"""
