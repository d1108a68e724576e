# rdp-doctor check --local: reads the Remote Desktop configuration of this machine and prints
# one JSON document (schema rdp-doctor/local/v1, documented in docs/windows.md). Read-only: it
# changes nothing. Runs on Windows PowerShell 5.1 (Windows Server 2016+) and PowerShell 7.
# Every source is read on its own; a failure becomes an entry in "errors", never a stop.
# Values are converted to plain strings/numbers here (enums, dates, REG_BINARY), so the JSON
# does not depend on how a PowerShell version serialises .NET types.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false
$errors = New-Object System.Collections.ArrayList

function Add-SourceError([string]$source, $err) {
    [void]$errors.Add([ordered]@{ source = $source; error = "$($err.Exception.Message)" })
}

function Get-UnixTime([datetime]$d) {
    $epoch = New-Object DateTime 1970, 1, 1, 0, 0, 0, ([DateTimeKind]::Utc)
    [int64][math]::Floor(($d.ToUniversalTime() - $epoch).TotalSeconds)
}

# Registry values of one key; absent key -> exists=false, absent value -> null.
function Read-Values([string]$source, [string]$path, [string[]]$names) {
    $o = [ordered]@{ exists = $false }
    foreach ($n in $names) { $o[$n] = $null }
    try {
        if (Test-Path -LiteralPath $path) {
            $o.exists = $true
            $p = Get-ItemProperty -LiteralPath $path
            foreach ($n in $names) {
                $v = $p.$n
                if ($v -is [byte[]]) { $v = ($v | ForEach-Object { $_.ToString('X2') }) -join '' }
                $o[$n] = $v
            }
        }
    } catch { Add-SourceError $source $_ }
    $o
}

# Can the private key be opened (as this user), which file holds it, and its ACL by SID.
function Get-KeyInfo($cert) {
    $k = [ordered]@{ opened = $false; provider = $null; file = $null; file_exists = $null; acl = @(); error = $null }
    try {
        $key = [System.Security.Cryptography.X509Certificates.RSACertificateExtensions]::GetRSAPrivateKey($cert)
        if ($null -eq $key) {
            $key = [System.Security.Cryptography.X509Certificates.ECDsaCertificateExtensions]::GetECDsaPrivateKey($cert)
        }
        if ($null -eq $key) { $k.error = 'no RSA or ECDSA private key could be opened'; return $k }
        $k.opened = $true
        $name = $null
        if ($key.PSObject.Properties['Key'] -and $key.Key) {
            $k.provider = 'cng'; $name = $key.Key.UniqueName
        } elseif ($key.PSObject.Properties['CspKeyContainerInfo']) {
            $k.provider = 'capi'; $name = $key.CspKeyContainerInfo.UniqueKeyContainerName
        }
        if ($name) {
            $dirs = @("$env:ProgramData\Microsoft\Crypto\RSA\MachineKeys", "$env:ProgramData\Microsoft\Crypto\Keys")
            $k.file_exists = $false
            foreach ($d in $dirs) {
                $f = Join-Path $d $name
                if (Test-Path -LiteralPath $f) {
                    $k.file = $f; $k.file_exists = $true
                    $rules = (Get-Acl -LiteralPath $f).GetAccessRules($true, $true, [System.Security.Principal.SecurityIdentifier])
                    $k.acl = @($rules | ForEach-Object {
                        [ordered]@{ sid = $_.IdentityReference.Value; rights = [int64]$_.FileSystemRights; type = "$($_.AccessControlType)" }
                    })
                    break
                }
            }
            if (-not $k.file) { $k.file = Join-Path $dirs[0] $name }
        }
    } catch { $k.opened = $false; $k.error = "$($_.Exception.Message)" }
    $k
}

$ts = 'HKLM:\SYSTEM\CurrentControlSet\Control\Terminal Server'
$out = [ordered]@{
    schema       = 'rdp-doctor/local/v1'
    collected_at = (Get-Date).ToUniversalTime().ToString('o')
    computer     = $env:COMPUTERNAME
    os           = $null
    is_admin     = $null
}
try {
    $v = Get-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion'
    $out.os = "$($v.ProductName) (build $($v.CurrentBuild))"
} catch { Add-SourceError 'os' $_ }
try {
    $id = [Security.Principal.WindowsIdentity]::GetCurrent()
    $out.is_admin = (New-Object Security.Principal.WindowsPrincipal $id).IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)
} catch { Add-SourceError 'is_admin' $_ }

$out.terminal_server = Read-Values 'terminal_server' $ts @('fDenyTSConnections')
$out.rdp_tcp = Read-Values 'rdp_tcp' "$ts\WinStations\RDP-Tcp" @('PortNumber', 'SecurityLayer', 'UserAuthentication', 'MinEncryptionLevel', 'SSLCertificateSHA1Hash')
$out.policy = Read-Values 'policy' 'HKLM:\SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services' @('fDenyTSConnections', 'SecurityLayer', 'UserAuthentication', 'MinEncryptionLevel')
$out.credssp = Read-Values 'credssp' 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System\CredSSP\Parameters' @('AllowEncryptionOracle')

# The certificate the listener uses (also the self-signed one, which the registry may not name).
$out.wmi_listener = [ordered]@{ SSLCertificateSHA1Hash = $null; SSLCertificateSHA1HashType = $null; SecurityLayer = $null; UserAuthenticationRequired = $null; MinEncryptionLevel = $null }
try {
    $g = Get-CimInstance -Namespace 'root\cimv2\TerminalServices' -ClassName Win32_TSGeneralSetting -Filter "TerminalName='RDP-Tcp'"
    if ($g) { foreach ($n in @($out.wmi_listener.Keys)) { $out.wmi_listener[$n] = $g.$n } }
} catch { Add-SourceError 'wmi_listener' $_ }

$inUse = $out.wmi_listener.SSLCertificateSHA1Hash
if (-not $inUse) { $inUse = $out.rdp_tcp.SSLCertificateSHA1Hash }
$certs = New-Object System.Collections.ArrayList
foreach ($store in @('Remote Desktop', 'My')) {
    try {
        $path = "Cert:\LocalMachine\$store"
        if (-not (Test-Path -LiteralPath $path)) { continue }
        foreach ($c in @(Get-ChildItem -LiteralPath $path)) {
            $e = [ordered]@{
                store           = $store
                thumbprint      = $c.Thumbprint
                subject         = $c.Subject
                issuer          = $c.Issuer
                not_before      = $c.NotBefore.ToUniversalTime().ToString('o')
                not_after       = $c.NotAfter.ToUniversalTime().ToString('o')
                not_before_unix = Get-UnixTime $c.NotBefore
                not_after_unix  = Get-UnixTime $c.NotAfter
                has_private_key = $c.HasPrivateKey
                eku             = @($c.EnhancedKeyUsageList | ForEach-Object { "$($_.ObjectId)" })
                private_key     = $null
            }
            if ($c.HasPrivateKey -and ($store -eq 'Remote Desktop' -or $c.Thumbprint -eq $inUse)) {
                $e.private_key = Get-KeyInfo $c
            }
            [void]$certs.Add($e)
        }
    } catch { Add-SourceError "certificates:$store" $_ }
}
$out.certificates = $certs

$out.firewall = [ordered]@{ profiles = @(); rules = @() }
try {
    $out.firewall.profiles = @(Get-NetFirewallProfile -PolicyStore ActiveStore | ForEach-Object {
        [ordered]@{ name = "$($_.Name)"; enabled = "$($_.Enabled)" }
    })
    $out.firewall.rules = @(Get-NetFirewallRule -PolicyStore ActiveStore -Name 'RemoteDesktop-UserMode-In-TCP', 'RemoteDesktop-UserMode-In-UDP' -ErrorAction SilentlyContinue | ForEach-Object {
        $pf = $_ | Get-NetFirewallPortFilter
        [ordered]@{
            name       = "$($_.Name)"
            enabled    = "$($_.Enabled)"
            action     = "$($_.Action)"
            direction  = "$($_.Direction)"
            profile    = "$($_.Profile)"
            protocol   = "$($pf.Protocol)"
            local_port = @($pf.LocalPort | ForEach-Object { "$_" })
        }
    })
} catch { Add-SourceError 'firewall' $_ }

$out.term_service = $null
try {
    $s = Get-Service -Name TermService
    $out.term_service = [ordered]@{ status = "$($s.Status)"; start_type = "$($s.StartType)" }
} catch { Add-SourceError 'term_service' $_ }

$out.errors = $errors
ConvertTo-Json -InputObject $out -Depth 8 -Compress
