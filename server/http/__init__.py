"""What every controller shares: the problem mapper, the caller and strict bodies, the guards."""
