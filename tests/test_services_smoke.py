import sqlalchemy as sa


def test_mariadb_accepts_password_user_over_tcp(mariadb):
    engine = sa.create_engine(mariadb.fresh_database())
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT 1 + 1")).scalar() == 2


def test_s3_server_round_trips_an_object(s3):
    bucket = s3.create_bucket()
    client = s3.client()
    client.put_object(Bucket=bucket, Key="k", Body=b"v")
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"


def test_mlflow_server_answers(mlflow_server):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=mlflow_server.tracking_uri)
    assert client.search_experiments()
