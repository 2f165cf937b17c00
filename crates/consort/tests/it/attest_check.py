"""An independent SEV-SNP report verifier (Python `cryptography`), to compare with
`consort attest verify`. Written from the AMD SEV-SNP ABI and VCEK specifications, not
from Consort's code.

usage: attest_check.py REPORT VCEK(DER|PEM) CHAIN(PEM: ASK, ARK) ROOTS_DIR
Prints `accept` or `reject: <reason>`; exit code 0 either way (2 on bad usage).
"""

import glob
import os
import sys
import warnings

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
AMD = "1.3.6.1.4.1.3704.1."

# AMD's VCEKs have non-positive serial numbers, which cryptography warns about.
warnings.simplefilter("ignore")


def load_cert(data):
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def rsa_pss_ok(subject, issuer):
    try:
        issuer.public_key().verify(
            subject.signature, subject.tbs_certificate_bytes, PSS, hashes.SHA384()
        )
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False


def ext_bytes(cert, suffix):
    for e in cert.extensions:
        if e.oid.dotted_string == AMD + suffix:
            return e.value.value  # UnrecognizedExtension: the raw extension value
    return None


def der_int(raw):
    if raw is None or len(raw) < 3 or raw[0] != 0x02 or raw[1] != len(raw) - 2:
        return None
    return int.from_bytes(raw[2:], "big")


def spki(cert):
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def check(report, vcek, ask, ark, roots):
    if len(report) != 1184:
        return "report size"
    version = int.from_bytes(report[0:4], "little")
    if version not in (2, 3, 5):
        return "report version"
    if int.from_bytes(report[0x34:0x38], "little") != 1:
        return "signature algorithm"
    if (int.from_bytes(report[0x48:0x4C], "little") >> 2) & 7 != 0:
        return "signing key is not the VCEK"
    if spki(ark) not in roots:
        return "ARK is not a bundled AMD root"
    if not rsa_pss_ok(ark, ark):
        return "ARK self-signature"
    if not rsa_pss_ok(ask, ark):
        return "ASK not signed by ARK"
    if not rsa_pss_ok(vcek, ask):
        return "VCEK not signed by ASK"
    r = int.from_bytes(report[0x2A0:0x2A0 + 72], "little")
    s = int.from_bytes(report[0x2E8:0x2E8 + 72], "little")
    try:
        vcek.public_key().verify(
            utils.encode_dss_signature(r, s),
            report[:0x2A0],
            ec.ECDSA(hashes.SHA384()),
        )
    except (InvalidSignature, ValueError, TypeError):
        return "report signature"
    # The 72-byte components must not carry anything beyond a P-384 scalar.
    if any(report[0x2A0 + 48:0x2E8]) or any(report[0x2E8 + 48:0x330]) or any(report[0x330:]):
        return "unsigned bytes set"
    tcb = report[0x180:0x188]
    product = (ext_bytes(vcek, "2") or b"").decode("ascii", "replace")
    if "Turin" in product:
        want = {"3.9": tcb[0], "3.1": tcb[1], "3.2": tcb[2], "3.3": tcb[3], "3.8": tcb[7]}
    else:
        want = {"3.1": tcb[0], "3.2": tcb[1], "3.3": tcb[6], "3.8": tcb[7]}
    for suffix, value in want.items():
        if der_int(ext_bytes(vcek, suffix)) != value:
            return "VCEK TCB extension " + suffix
    mask_chip = (int.from_bytes(report[0x48:0x4C], "little") >> 1) & 1
    if not mask_chip:
        hwid = ext_bytes(vcek, "4")
        chip = report[0x1A0:0x1E0]
        if hwid is None or chip != hwid + bytes(64 - len(hwid)):
            return "hwID"
    if (int.from_bytes(report[0x08:0x10], "little") >> 19) & 1:
        return "debug allowed"
    return None


def main():
    if len(sys.argv) != 5:
        print(__doc__)
        sys.exit(2)
    report_path, vcek_path, chain_path, roots_dir = sys.argv[1:]
    report = open(report_path, "rb").read()
    try:
        vcek = load_cert(open(vcek_path, "rb").read())
        chain = x509.load_pem_x509_certificates(open(chain_path, "rb").read())
        roots = {
            spki(x509.load_pem_x509_certificate(open(p, "rb").read()))
            for p in glob.glob(os.path.join(roots_dir, "*-ark.pem"))
        }
    except ValueError as e:
        print("reject: certificates: %s" % e)
        return
    if len(chain) != 2:
        print("reject: chain is not ASK, ARK")
        return
    why = check(report, vcek, chain[0], chain[1], roots)
    print("accept" if why is None else "reject: " + why)


if __name__ == "__main__":
    main()
