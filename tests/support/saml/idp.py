#!/usr/bin/env python3
"""A real SAML 2.0 identity provider for Cognate's tests: PyPI pysaml2,
signing with Debian's xmlsec1. Prints one base64 samlp:Response (IdP
initiated, as an app gets it from an IdP set up for AWS) on stdout.

  idp.py --metadata            print the IdP's EntityDescriptor instead
  idp.py [--name-id N] [--role ROLE_ARN,PROVIDER_ARN ...] [--attr NAME=VALUE ...]
         [--audience A] [--recipient R] [--sign assertion|response|both|none]
         [--key idp|other] [--lifetime-minutes M] [--issuer I]
         [--clock-offset-minutes M]

Test keys only: idp.key.pem is the key of the metadata; other.key.pem is not.
"""
import argparse
import base64
import os
import re
import sys
import warnings

warnings.filterwarnings("ignore")

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT  # noqa: E402
from saml2.config import IdPConfig  # noqa: E402
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NameID  # noqa: E402
from saml2.server import Server  # noqa: E402
from saml2.metadata import entity_descriptor  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ENTITY_ID = "https://idp.cognate.test/saml/metadata"
AWS_AUDIENCE = "urn:amazon:webservices"
AWS_RECIPIENT = "https://signin.aws.amazon.com/saml"


def config(key, lifetime_minutes, issuer):
    conf = IdPConfig()
    conf.load(
        {
            "entityid": issuer or ENTITY_ID,
            "xmlsec_binary": "/usr/bin/xmlsec1",
            "key_file": os.path.join(HERE, f"{key}.key.pem"),
            "cert_file": os.path.join(HERE, f"{key}.cert.pem"),
            "service": {
                "idp": {
                    "endpoints": {
                        "single_sign_on_service": [
                            ("https://idp.cognate.test/sso", BINDING_HTTP_REDIRECT)
                        ]
                    },
                    "policy": {
                        "default": {
                            "lifetime": {"minutes": lifetime_minutes},
                            "attribute_restrictions": None,
                            "name_form": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
                        }
                    },
                    "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                }
            },
            "metadata": {},
        }
    )
    return conf


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--metadata", action="store_true")
    p.add_argument("--name-id", default="alice@example.com")
    p.add_argument("--role", action="append", default=[])
    p.add_argument("--attr", action="append", default=[])
    p.add_argument("--audience", default=AWS_AUDIENCE)
    p.add_argument("--recipient", default=AWS_RECIPIENT)
    p.add_argument("--sign", default="assertion", choices=["assertion", "response", "both", "none"])
    p.add_argument("--key", default="idp", choices=["idp", "other"])
    p.add_argument("--lifetime-minutes", type=int, default=15)
    p.add_argument("--issuer", default=None)
    p.add_argument("--clock-offset-minutes", type=int, default=0)
    a = p.parse_args()
    if a.clock_offset_minutes:
        # The IdP's clock runs ahead (IssueInstant, NotBefore come from it).
        import time

        real_gmtime, real_time = time.gmtime, time.time
        offset = a.clock_offset_minutes * 60
        time.gmtime = lambda secs=None: real_gmtime(real_time() + offset if secs is None else secs)

    conf = config(a.key, a.lifetime_minutes, a.issuer)
    if a.metadata:
        print(entity_descriptor(conf).to_string().decode())
        return
    idp = Server(config=conf)
    identity = {}
    if a.role:
        identity["https://aws.amazon.com/SAML/Attributes/Role"] = a.role
    identity["https://aws.amazon.com/SAML/Attributes/RoleSessionName"] = a.name_id.split("@")[0]
    for kv in a.attr:
        k, v = kv.split("=", 1)
        identity.setdefault(k, []).append(v)
    response = idp.create_authn_response(
        identity,
        in_response_to=None,
        destination=a.recipient,
        sp_entity_id=a.audience,
        name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=a.name_id),
        authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"},
        sign_response=a.sign in ("response", "both"),
        # Unsigned: pysaml2 then wants SP metadata; sign and strip instead.
        sign_assertion=a.sign in ("assertion", "both", "none"),
        sign_alg="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        digest_alg="http://www.w3.org/2001/04/xmlenc#sha256",
    )
    xml = str(response)
    if a.sign == "none":
        xml = re.sub(r"<ns2:Signature[ >].*?</ns2:Signature>", "", xml, flags=re.S)
        assert "Signature" not in xml
    sys.stdout.write(base64.b64encode(xml.encode()).decode())


if __name__ == "__main__":
    main()
