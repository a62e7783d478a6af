//! Fixed, pre-generated RSA keys for tests, so that no test pays for RSA
//! key generation (seconds in a debug build). Available to this crate's
//! tests and, with the `test-keys` feature, to other crates' tests.
//!
//! These private keys are public: never use them outside tests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use base64::Engine as _;
use zeroize::Zeroizing;

use crate::manager::KeyGenerator;

/// Four 2048-bit RSA private keys, PKCS#8 PEM (made with `openssl genpkey`).
pub const PKCS8_PEMS: [&str; 4] = [
    "\
-----BEGIN PRIVATE KEY-----\n\
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCseGhlcJO90imQ\n\
Wpt1XlSrpReYxt6zVljLI9Vks5XVKSAO/FSxigv+PMW4xf/rV6KPBK2id8W2Ej/X\n\
9KK6FTbjPfFypQmu9wpwjKcrDebJI+yGA8Oj+EYKLqVQuI/fDQt+J/jKyM2CT9+/\n\
3AtgH3K2dB2fz85RmFVG4CS0h0/PyhoIoa3DIvud5ISCwjGQZ1+8t+bl3dYEiyXp\n\
Lb1/3zAUcW8kvg0x6xkp0zXOsdG7ap65aroup7V1EOHBUa/uKuWwEblMEAlfOa0a\n\
ImwohC4NIWHtJSyUA5VpwWu+0FayMHR0HD8mYSSrV89hpzJUcvrluXDbT72wlaM/\n\
u3D6AZqLAgMBAAECggEAJqer+kRTkKFIWIa+Pf2A66GKWt8Drd0l9I2Y98N6Sva3\n\
LTSnxMzkaDx1sjaKZ9RR5k0Nn5LJmMeZUI0PZbZ4gVDySxgrRfAvgk877l3kwmMP\n\
UXAJirgL9p9CxQdAk6ToVQOfcs+zo8fEJcurLwWNX9BBjX51Rvtl7YcyItYK8M6D\n\
qFQIIVgt2QVyz5EugjQQifQ+K4RnOdCJniJnmj9qUykhAwJU/D3mASUVfX71wfKd\n\
hUSMmnnk9SsaJPT649tX7bFyMjnilGh/wtbFiKMKn69puiS07RjC4CwwH4qCs37x\n\
P48CiA8qHCSFDj4UjtJU+bpqJVBK/3bRxV8ddMWjdQKBgQDv12R2gn4IUdsuM/c6\n\
xA/qNKc7f8euN1JFEn2pmM9EDj+icURXL1NuZtF6XyBA3JiYaHl56g20gLo4t4zR\n\
KOmgSnm9/47hFej2P/edpkKOABJlfs5R/i8b6gWkb1969DgI19eEERqhd/+dOm0s\n\
4BoUOs3qxzZ92LjH24JWfvwg5wKBgQC4FwyiY2Z5ZdxJgZavhqS1CEPWddc5q773\n\
ZZ6O0KzCvAlhMvWsB+148zZ1xbXZCzjT7GVESyVj3o942xNc0SeVxuQaXMFZrIa2\n\
veOEZ2x4B+8TaN4rFSs1YWOjEETARkSsyN9bE5KeyOEwoeMDMv3vnb7zyZ5a2mJk\n\
DfZR7n4wvQKBgERDXO+yEmcRzT1oQvyx4wm49MQliVLXog3Qxn1n5c4r9AarEFV0\n\
Pd3VW9fljUuIvdHbIoAFkuMGJHqSG31IlL4vlFj0jNkZoFW+PR7cvGKoOJQ0tEp3\n\
+zaJtBNqM5XOPsidjlSjfZ3phpJcl8hG/IU3e3ZQPv0wmt8fZghyWhaPAoGAeYgt\n\
/R7mTgrjLVvyIRsgrasxLepKFna98hISZXJ6O21sO9Eqw1HQguL99y55aTqxX6dX\n\
C4kYvB/4U+89jy89lPHjMUw/EXaG0Sn3hDfLMkr6mLPIyGSHTAxpfQOGf/Fj8TYD\n\
ztrTFyTDFhoqBripUIGxyLw4YP5/qlJVZa2vfXkCgYAg1XryKstwk1YN9Ua3Y3ck\n\
8+7j89/f5OeVJVzUGWft2z7j58hcjD0KV3QHKsUd/JZfybpsq7phY3R1basHAwq6\n\
ezi2dg3E3DQCG+vFS9KO1gk77dvxKMxIJv1Mty2Vh8fI4gOHz4Lc0SyQIvfrHtGw\n\
NTR/434lHhjqpPTritfmpQ==\n\
-----END PRIVATE KEY-----\n",
    "\
-----BEGIN PRIVATE KEY-----\n\
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQC3sVhrnCWFUQze\n\
ocQ4ma6A7n/XRASUrn5WxMetMg/iBkOt/LM6UH2579/s+AOIN62NfWEaPfMRxK7R\n\
XQ7f+s6owivdEQsb4r7//EqqnbI6L+C3Fvq8FQPY2tZHDJC0sEBQD6jq+sjoXMjD\n\
auClMMCpLZO3hcdARbJz75pcTXGiIq2DapvR1QcwAEoneyHcwVvjaauayH9gCiBP\n\
pIM7r+0dvW3lXeqHxjnLTPbZC128QI81nxGblYwoNi6z1M4HxXdxeAZgoWZTGomo\n\
VNoLw9DLDcs75VrzrC55mxrWf2EWRVPRA4qZQDdCvq6vF8llRe4MPrVTyeVlYjlu\n\
ERSM2oljAgMBAAECggEACuNmPFVbHACROg5t/8o26nQ4pl06cEhk5hEaojeEyCmw\n\
OqXvRxZHqDfXFsgfXXmqEz2f/driMjwYU1dSxGVXeUVZLZdkXdjI6DTfhXwneQTR\n\
gHN06qUhlJRpfc35iIb8qOzktFj9LljMRa5rdnSMrE/ZS62QVqJK+6LzjA5tx+XF\n\
8eYNUwW2rpe7XzLzWdsX6zpCYVktQ5epTW68LBqW/TBzOyHPt6dlQBOOqOz2X0qx\n\
46OhIWfF5XsYmjjKAxmbls6bKaf5XneRoLUh4/ioWxQ7mU/sF9CdQty9teh8F9YE\n\
jM+ZhTqSbimXR4Lz9U1yqoXdMKkxppEdjOpQyNKI4QKBgQDZhrzGm/SvmDPcPR7N\n\
XaYqT1Bi+QeGEZlags5qkA8Hr1UfYAZQZhAkMT3jFGPy6h7cTzaUYcMVPL1CMGL+\n\
7H94KVmTk78wy/QmTAG9TF1zjt7laHZEPMR+xNQItAxeTEogoBVacoQsNLthJmdm\n\
5U49Tczg2zDOQcggpKsWPRym2wKBgQDYLqzq4v5TAPKnXOryE5JmXYWPvfG+V0xK\n\
+mSN9hbfjwsCJfAgeKuGU2eZNMDE6ViU6lmWxVbLRvbU4NfZ1WaBphRjwgBHpLMD\n\
QpLR/PVYjTOZD29CfU4+b7bSWCq9h17ygq4+PkbZ7sZcLdHD4idndwSWI4/Bh1MB\n\
PINF2RQaGQKBgGDm9/OWCBOtPvUOuUkNPfe9K3dbrrFX57P9b4zjLf7jaY03jriE\n\
Lw6gbQxaygetqh/EnfDN+ETesQTqXz9nBYX3DbODbvmC8fmZhHDaswrGi58wwPa3\n\
B2XdswNJifT8EU2lYr3PI/g5aXvmyst4vTjsDqfgnUZU4Z1BHgIjKT9fAoGBALpu\n\
lkUCeR2P5bObmCon4stQv8wUnJPvqSXIBku+/D7Tl0TE/u6h4ho3d1JSgiPOsMvL\n\
xnMVwCISEu/G7582P+5zEYZuWdtvF8op8YASTGuPaf4Hp4WJlp6VrO59hm5ofeNZ\n\
+3ZGMsfi+UGpagspz52UsGniRSk60MRyMStdZ86RAoGBAMdTN2m9djiTB/OIBXfo\n\
840cLVjpELaBrlPmXwvwDpr8UADQSIX4kyePeewrbNBs+XqMjwS/GmljT4teViGl\n\
OGEI5DKOl2/qKuDM2ugvPqBSRLlq8L0KTfu5dtpzGAf5rG8Z8JFHxtIRc+OFV+ry\n\
BgbGfSD4dXoZjpopfMzdY6mK\n\
-----END PRIVATE KEY-----\n",
    "\
-----BEGIN PRIVATE KEY-----\n\
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCqQF/tZal9L1CA\n\
s/VNrfmVySQLVSou1SXvGMZ/KtY69wkdoBWqbDINu6Jn7arbrufsvMrrFSskvYEQ\n\
3V55kGWVB8xzDeck+z6pBudroVytgTOHU7ElFP3UELfv3wG61IhqtXgZFPaJmgMp\n\
MYtm6L/MOdyoiL/2Sq5mY85WX0DROG/iZDTxT1EjWCtvgoxT3SE1bfmZ803u2pL7\n\
gW7Rp2FTA2MGswbl6KsXTkAwN75tp4qikCUWzv2v4m5lA3XdKX/Nl2sm+pFoK3qv\n\
3TWnaw25+UbRO8czUWf0p4zqmd8x4pwBPTpwrOqpyIxxgSt1zBJlV7aCVhKXv2E9\n\
sIG8HrdvAgMBAAECggEAQQd6vJo2vXa7mJVkTqnzqcdc6ak7hgzrQuLjOsKZdodS\n\
Z4r0i5ZtHfq8A1dwCh5KPw4zscxxoMRzjoYHpoZFjsGeUZoPXnxLCFP3RBCr7ifq\n\
Dzgj8yaL95r1Lv2u0vaILr4m4+mya4e0ymC+vu2LCQ5W3tbw/7mx2LEpqKsUfnUg\n\
+uzREOHyLqsWW/BIkiyVW7KvPME8yaGNGWzzX42bsRXiAOd24hsp7yudN+Jn1WIT\n\
P43CZtoK05DEl2+4+GgUWPG45/6vkSCXReQWoxy9sgOjiwRGMqZtC3RAqJkzRIx1\n\
H6YeiLTCGRLewRzRbdaTXQ+4QZXbiHmAX/qt1nCMiQKBgQDatnGtkgCwRApkGVyZ\n\
dk4A2WAuzpu29MwIpCQnTNoIuJYbpDrqTp9cxXHSR2h4Tmavn6fxbf9WliWyXTz6\n\
RlBwuSwviAy6dHpGNXRdRE+2SMlOQL9QYcomJCCXVWGJ7A4ik7CWPYqhddj49v1U\n\
rm8L5/t0qts0cK6FGyIUU+/aBwKBgQDHRuBZ1fpLEF5pgEkx5z9PzwG4Xxuqev8q\n\
1EXY0Ivh6PzXJhNhfNBlKv0lTMEFUU8TDBnL8bPaz46PLyZpBCfP6g3VfAeMiLq/\n\
XgLrpvZVRX7YBXyW+3OS5KKMwB4OlAAn64T6z74h+ZZzvXvcme0Tn96agQ7aI+0I\n\
POO67eX9WQKBgBk8d/15HU85aqGGM6MZfYKnkmuUN29y66ALoIhQW9ApzFhAKPQk\n\
QksoFSwYRTusgDi/iVdYQ+AvzwW3sHOIbXu0Qh7x6dYR3pH/VP/2A+SanW/EFM8n\n\
mXWxMXmExo5tiGwA8p1DWJ2sxW5kwXJl9jY/fEpH9KcmYVzGdrY1wTU9AoGADcJS\n\
CUHh9z7ZFfW6mAx8bZlAaCeA9INrjNx9OhwkHGQG2SAS5H9GsEWIlwO2rBRSHmGO\n\
gmtc3LXKBQ7fWw7jZNKnQ989cjGam031a6nqhja3LFksogwYjcLlikxVhvInFJqJ\n\
YvvnB9eA0Nr7a17hZKJ8LzTL/rnOSuxRWP3GDHkCgYEAy8CToe6RMF/uliUuubEc\n\
qCVW2FiS6whKEVGr/HeFalPMzStN8+88y6dFyhqYXteEeHcVs51W5XTE2wIU7rus\n\
FN5Oi8kJGSfHLjDSYufLhHBDfSPTWNgxorKR0MnH41ZF22Avl85DFBrZ+0Z/KzgN\n\
3RyTHhUzUSOkKXUhrAJrCBM=\n\
-----END PRIVATE KEY-----\n",
    "\
-----BEGIN PRIVATE KEY-----\n\
MIIEvwIBADANBgkqhkiG9w0BAQEFAASCBKkwggSlAgEAAoIBAQDGyjh/lJBwbW7+\n\
NrEXACiiz7mbSlKc+z3mw/ya0T4iv4X8yw0izDUMKXpn5wrQSMkfxk2RHlcibZUR\n\
DOwBqpzdpZVQP6d4IkV5EKuij4jhCdX8OXGNZZlKNCL1mqf7U+VADzaBucN6v5J+\n\
J00lpkoNm76v4c7xPZvWBxqdNVURnCph4xICnWmgtgAvwkAKWASu7C9RZSLvB7dd\n\
0VRfsRwyg7lBLiIqS8Z2PibnQGp0l1g6AeNJn9eNMbCB6WI/OY33fnU8PDQqoI5a\n\
Za0iDYguYiRpkl/0Om6ROP0Zm7XM0LImgS04qiKy4R49r4YkhuAKfjyj1xFi7xo1\n\
krcsuFKDAgMBAAECggEACvQRjVYVaEAKE2UroxBc8/SJv9U0jlnO+ZbZM+zbodhM\n\
p34cSPYfkNOL0OB9SyhM4hH+SJoT0iTt1co7mKE+digRGbCoNaXxVgkQOjm6BC/o\n\
x29Lv1nk5xB5Qf5SPP2h/JfZ/66QrmevAWVkimRRfZoF/K2nqeXrl9fn64KIylOE\n\
aZKBwpjOiKmWSL1qZ22xHwQXKcz2yt7kAXxXHSwl33bd9TRS6azWJ0YksNYutgP1\n\
qeTMp3mlX8ZN52giL4SuD0lGredcRHZkWbKGirNc8W8QgWqR79QYPwkPqVHV6/gK\n\
Bv8EaLACMq5i7XpMhM1XfIi/qL+2ysvjM7do8Fb14QKBgQD7ZibdwqTkvF+tvdA2\n\
GaVwtMTM6OdvS5nIdFSnEXi8NUcleiofH0K3OpT3rQHZZ7vaRbY4ZZwbz1LBMqdG\n\
FAw0WWCb1UPvZt+bg2aOSjcrCwI0MhzEadA/r7GzZ1AIPRb1enU7aJsAFlNI37KA\n\
kV83/ZH33Xey84TNkp7yhTrD5wKBgQDKbZYIWCz+aFB5KR73arhWI/ERdPWD0km/\n\
XyzbY3oq7R2BHqp1bo3wiWaceVb0QQCZbHLnLUvDRA2q8VC+JJP0CgvIMbQGzTTe\n\
666qFUzDcz8IaXbx/DvsrpUWC0sR8Wr72bC1fxYVOBj7wM3W2YF25DrVywxxETzh\n\
kekSdumpBQKBgQDJMo30eOzC60efowPZ6FiRhPrkC5n9ZoHi/ccqFj+MUQ9pnQXM\n\
9pXMUqQaPGn4dp7PJ2+YXym60Ago+sMIwM6rrsQ0s0+1b52Rtm4Dfr38Qsk2wMxp\n\
HU4/Sftr20kf7tRLDgB41VUHktaAwhb38mBETTnfJ22+2En2xFtVOO85DQKBgQCT\n\
MeKCCNQW3nV91Nfuo0yNXq9BuWF5zGTR4nw0v34rTqZAqLLcl1phCRhzOYxwKgAs\n\
j/5xea94uriRj83dpa1sLA3rMbEtrPQAETK9/KUIDnpMPJxAU+CjN0OzdtzMnFbl\n\
8aKcJ2BAZ71K+yTyUNDiSg06Pt66LQWvJLFtOsinnQKBgQD395J8y0z/Zi4R3SAU\n\
B/R3pJccY3Q2Gu6gZH5SFqdq/tphjawLPo2hGL/un4F0gy2qrQb2CVWIsWAQW+No\n\
42YBHCicU8ZUhbRdxkKOt5M/NkeybS5lvrZ3qe+3QrGuEWewEl+BMnUkGPKoUCnl\n\
AuLZPTKjlqgb9NzjwcENohk2XQ==\n\
-----END PRIVATE KEY-----\n",
];

/// The `i`-th fixed key (modulo the count), PKCS#8 DER.
pub fn pkcs8(i: usize) -> Zeroizing<Vec<u8>> {
    let pem = PKCS8_PEMS[i % PKCS8_PEMS.len()];
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("test key PEM is valid base64"),
    )
}

/// A key generator for [`crate::KeyManager`] that hands out the fixed keys
/// in turn, starting at `first`, instead of generating new ones. Every
/// manager sharing one database should share one generator (or start at
/// different offsets): the same key twice is the same `kid`.
pub fn fixed_generator(first: usize) -> KeyGenerator {
    let next = Arc::new(AtomicUsize::new(first));
    Arc::new(move || Ok(pkcs8(next.fetch_add(1, Ordering::Relaxed))))
}
