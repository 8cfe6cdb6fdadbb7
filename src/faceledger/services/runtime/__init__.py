"""What every use case runs on: the deployment, what images are analysed with, staging files."""
