#!/bin/sh
# The MinIO setup Job (minio/mc image): the buckets, private, and one user per service whose
# policy reaches only its own bucket (bucket-readwrite.json with BUCKET replaced). Idempotent.
#   pipeline (Airflow tasks)  read/write on DATASET_BUCKET
#   mlflow (the server)       read/write on MLFLOW_BUCKET
# The inference API has no key: it downloads artifacts through the MLflow server.
set -eu
for name in MINIO_URL MINIO_ROOT_USER MINIO_ROOT_PASSWORD DATASET_BUCKET MLFLOW_BUCKET \
    PIPELINE_S3_ACCESS_KEY_ID PIPELINE_S3_SECRET_ACCESS_KEY MLFLOW_S3_ACCESS_KEY_ID MLFLOW_S3_SECRET_ACCESS_KEY; do
    eval "value=\${$name:-}"
    if [ -z "$value" ]; then
        echo "minio setup: $name is not set (or empty): add it to the Secret/ConfigMap" >&2
        exit 2
    fi
done

until mc alias set local "$MINIO_URL" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null 2>&1; do
    echo "minio setup: waiting for $MINIO_URL"
    sleep 3
done

service_user() {  # NAME BUCKET ACCESS_KEY SECRET_KEY
    mc mb --ignore-existing "local/$2"
    mc anonymous set none "local/$2"
    sed "s/BUCKET/$2/g" /etc/minio-setup/bucket-readwrite.json > "/tmp/$1.json"
    mc admin policy create local "$1" "/tmp/$1.json"
    mc admin user add local "$3" "$4"
    mc admin policy attach local "$1" --user "$3" 2>/dev/null || echo "minio setup: $1 already attached"
    echo "minio setup: user $3 has read/write on $2 only"
}

service_user readmission-pipeline "$DATASET_BUCKET" "$PIPELINE_S3_ACCESS_KEY_ID" "$PIPELINE_S3_SECRET_ACCESS_KEY"
service_user readmission-mlflow "$MLFLOW_BUCKET" "$MLFLOW_S3_ACCESS_KEY_ID" "$MLFLOW_S3_SECRET_ACCESS_KEY"
