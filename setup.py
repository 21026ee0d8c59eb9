from setuptools import find_packages, setup

with open("README.md", encoding="utf-8") as handle:
    long_description = handle.read()

setup(
    name="es-s3-snapshot",
    version="1.0.0",
    description="Back up Elasticsearch/OpenSearch indices to an S3 snapshot repository and restore them elsewhere",
    long_description=long_description,
    long_description_content_type="text/markdown",
    packages=find_packages(include=["es_s3_snapshot", "es_s3_snapshot.*"]),
    python_requires=">=3.10",
    install_requires=[
        "elasticsearch>=8.13,<10",  # only its transport layer is used: plain JSON for every engine
        "requests>=2.31",
        "PySocks>=1.7",  # socks5h:// proxies (bastion hosts)
        "requests-aws4auth>=1.2",
        "boto3>=1.28",
        # scrub --read-data computes the CRC32 of every byte it reads: zlib-ng's SIMD one runs at
        # about 20 GB/s where the standard library's runs at 1-4; that CPU is what kept scrub under
        # 0.8 of a plain download (scripts/bench). crc.py falls back to zlib when it cannot load.
        "zlib-ng>=0.5",
    ],
    extras_require={
        "zstd": ["zstandard>=0.22"],  # scrub of OpenSearch repositories with compression_type zstd; tests prove it
        "test": [
            "pytest>=7",
            "pytest-timeout>=2",
            "moto[server]>=5.1.14",
            "cryptography>=41",
            "pproxy>=2.7",
            "zstandard>=0.22",
        ],
    },
    entry_points={"console_scripts": ["es-s3-snapshot = es_s3_snapshot.cli:run"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Environment :: Console",
        "Topic :: System :: Archiving :: Backup",
    ],
)
