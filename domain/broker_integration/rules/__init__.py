"""Pure rules: validation, pre-trade checks, fees, metrics, routing and anomaly detection."""
