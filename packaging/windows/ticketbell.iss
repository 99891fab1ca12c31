; Ticketbell for Windows: a per-user installer (no admin rights), built by CI with
;   python packaging/build.py
;   iscc /DAppVersion=0.1.0 packaging\windows\ticketbell.iss
; -> dist\ticketbell-0.1.0-setup.exe
; Staff can be provisioned by the owner: put ticketbell-provisioning.toml next to the setup file
; (or run it with /PROVISION="C:\path\team.toml"); it is imported unless a config already exists.

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#define Bundle "..\..\dist\ticketbell"
#define AppId "org.ticketbell.Ticketbell"
#define RunKey "Software\Microsoft\Windows\CurrentVersion\Run"

[Setup]
AppId={{49F53678-D44B-4348-8AA4-121C1F52D446}
AppName=Ticketbell
AppVersion={#AppVersion}
AppVerName=Ticketbell {#AppVersion}
AppPublisher=Ticketbell
PrivilegesRequired=lowest
DefaultDirName={autopf}\Ticketbell
DisableProgramGroupPage=yes
DisableDirPage=auto
OutputDir=..\..\dist
OutputBaseFilename=ticketbell-{#AppVersion}-setup
SetupIconFile=..\..\build\icons\ticketbell.ico
UninstallDisplayIcon={app}\ticketbell.exe
UninstallDisplayName=Ticketbell
Compression=lzma2
SolidCompression=yes
WizardStyle=modern
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
; closes a running Ticketbell before files are replaced or removed
CloseApplications=yes

[Tasks]
Name: "startatlogin"; Description: "Start Ticketbell when I log in"

[Files]
Source: "{#Bundle}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
; the same AppUserModelID the app sets at start, so notifications carry Ticketbell's name and icon
Name: "{autoprograms}\Ticketbell"; Filename: "{app}\ticketbell.exe"; AppUserModelID: "{#AppId}"

[Registry]
; the value the app's "Start at login" setting (agent/autostart.py) reads and writes
Root: HKCU; Subkey: "{#RunKey}"; ValueType: string; ValueName: "Ticketbell"; \
  ValueData: """{app}\ticketbell.exe"""; Tasks: startatlogin; Flags: uninsdeletevalue

[Run]
Filename: "{app}\ticketbell-cli.exe"; Parameters: "--import ""{code:ProvisioningFile}"""; \
  Check: HasProvisioning; Flags: runhidden waituntilterminated; \
  StatusMsg: "Importing the team's settings..."
Filename: "{app}\ticketbell.exe"; Description: "Start Ticketbell now"; \
  Flags: postinstall nowait skipifsilent

[Code]
function ProvisioningFile(Param: String): String;
begin
  Result := ExpandConstant('{param:PROVISION|}');
  if (Result = '') and FileExists(ExpandConstant('{src}\ticketbell-provisioning.toml')) then
    Result := ExpandConstant('{src}\ticketbell-provisioning.toml');
end;

function HasProvisioning: Boolean;
begin
  Result := ProvisioningFile('') <> '';
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
begin
  { The app may have turned start at login on itself: remove its login item in every case. }
  if CurUninstallStep = usPostUninstall then
  begin
    RegDeleteValue(HKCU, '{#RunKey}', 'Ticketbell');
    RegDeleteValue(HKCU, 'Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run',
      'Ticketbell');
  end;
end;
