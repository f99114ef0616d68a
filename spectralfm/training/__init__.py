"""Training: pretraining (with checkpoints, resume and DDP), LoRA fine-tuning and test-time training."""
