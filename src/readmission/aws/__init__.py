"""The scheduled EC2 data source: instance selection, start/stop and the AWS set-up.

``selection``, ``instances`` and ``lambda_runtime`` need only boto3 and the standard
library: they are packaged into the Lambda zips. ``policies``, ``build`` and
``deploy`` are operator code (they read the repository's ``aws/`` folder).
"""
