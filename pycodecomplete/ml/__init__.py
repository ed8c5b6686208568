"""The learning side: corpus, tf.data pipeline, models, training and evaluation."""
